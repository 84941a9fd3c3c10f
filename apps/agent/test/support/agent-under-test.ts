/**
 * Runs the real agent in the test process: real serial port (`serialport` on a PTY), real mqtt.js,
 * the host clock, and the spool the test gives it.
 */
import { readFile } from 'node:fs/promises';
import { startAgent, type AgentDeps, type RunningAgent } from '../../src/agent.js';
import { systemClock } from '../../src/clock/clock.js';
import { parseConfig, type AgentConfig } from '../../src/config.js';
import { positionFile } from '../../src/ingest/position-file.js';
import { connectMqtt } from '../../src/publisher/mqtt-client.js';
import { openSerialPort } from '../../src/serial/port.js';

export interface TestAgentOptions {
  readonly serialPath: string;
  readonly brokerUrl: string;
  readonly spoolDir: string;
  readonly robotId?: string;
  readonly siteId?: string;
  /** Merged over the defaults below (top-level sections replace). */
  readonly config?: Record<string, unknown>;
  readonly openSpool: AgentDeps['openSpool'];
}

export async function startTestAgent(
  options: TestAgentOptions,
): Promise<{ agent: RunningAgent; config: AgentConfig }> {
  const config = parseConfig(
    {
      robotId: options.robotId ?? 'r-1',
      siteId: options.siteId ?? 'site-1',
      serial: { path: options.serialPath },
      mqtt: { urls: [options.brokerUrl], keepaliveSeconds: 5, connectTimeoutMs: 2000 },
      batch: { maxSamples: 50, maxDelayMs: 200 },
      spool: { dir: options.spoolDir, fsync: 'never' },
      reconnect: { initialMs: 200, maxMs: 1000, jitter: 1 },
      commands: { timeoutMs: 1500 },
      timeSync: { intervalMs: 5000 },
      shutdown: { drainTimeoutMs: 3000 },
      ...options.config,
    },
    {},
    options.spoolDir,
  );
  const agent = await startAgent(config, {
    clock: systemClock,
    random: Math.random,
    openSerial: openSerialPort,
    connectMqtt,
    openSpool: options.openSpool,
    positionStore: positionFile,
    readFile: (path) => readFile(path),
  });
  return { agent, config };
}
