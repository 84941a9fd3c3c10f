/**
 * What this package reports, published on Node's `diagnostics_channel` so that the library needs
 * no logger: apps subscribe and turn the messages into logs and metrics.
 *
 * @example
 * ```ts
 * import diagnostics_channel from 'node:diagnostics_channel';
 * import { DB_CHANNELS, type MigrationEvent } from '@fleet/db';
 * diagnostics_channel.subscribe(DB_CHANNELS.migration, (m) => {
 *   const e = m as MigrationEvent;
 *   console.log(`${e.action} ${e.name}`);
 * });
 * ```
 */
import diagnostics_channel from 'node:diagnostics_channel';

export const DB_CHANNELS = {
  /** {@link MigrationEvent}: one per migration file applied or skipped. */
  migration: 'fleet:db:migration',
  /** {@link PoolErrorEvent}: an idle pooled connection failed (server restart, network); pg drops it. */
  poolError: 'fleet:db:pool-error',
  /** {@link EmbeddedLogEvent}: output of the embedded server's initdb and postgres processes. */
  embeddedLog: 'fleet:db:embedded-log',
} as const;

export interface MigrationEvent {
  readonly name: string;
  /** `skipped-timescale`: a `.timescale.sql` file left pending because the extension is not available. */
  readonly action: 'applied' | 'skipped-timescale';
  readonly durationMs: number;
}

export interface PoolErrorEvent {
  readonly applicationName: string | undefined;
  readonly error: Error;
}

export interface EmbeddedLogEvent {
  readonly dataDir: string;
  readonly port: number;
  readonly line: string;
}

export const migrationChannel = diagnostics_channel.channel(DB_CHANNELS.migration);
export const poolErrorChannel = diagnostics_channel.channel(DB_CHANNELS.poolError);
export const embeddedLogChannel = diagnostics_channel.channel(DB_CHANNELS.embeddedLog);
