/** Structured logs: one JSON object per line (pino), with the gateway id on every line. */
import { pino, type Logger } from 'pino';
import type { GatewayConfig } from './config.js';

export type { Logger };

export function createLogger(
  config: Pick<GatewayConfig, 'gatewayId' | 'logLevel'>,
  destination?: pino.DestinationStream,
): Logger {
  return pino(
    { level: config.logLevel, base: { gateway: config.gatewayId }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
