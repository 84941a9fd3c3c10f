/**
 * `stream`: runs ONE instance of a job until SIGTERM/SIGINT (then final checkpoints, release,
 * leave), in the NestJS shell of ./app.module.ts. Serves /metrics, /healthz and /readyz on --http-port (default 9465; see ./http.ts,
 * ./metrics.ts). Every runtime event is printed as one JSON line on stdout (`{"event": "checkpoint", ...}`),
 * errors on stderr; the process exits 1 on a fatal error.
 *
 *   node --conditions=@fleet/source --import tsx apps/stream/src/cli.ts \
 *     --job keyed-counts --job-name counts --input telemetry --instance stream-0 --migrate
 */
import 'reflect-metadata';
import { subscribe } from 'node:diagnostics_channel';
import { NestFactory } from '@nestjs/core';
import { createPool, migrate } from '@fleet/db';
import { BROADCAST_CHANNELS, RUNTIME_CHANNELS } from '@fleet/stream-runtime';
import { STREAM_RUNNER, StreamAppModule, type StreamRunner } from './app.module.js';
import { ConfigError, readConfig, USAGE } from './config.js';

const line = (event: string, body: object): void => {
  const text = JSON.stringify({ event, at: Date.now(), ...body }, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) return { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
    return v;
  });
  process.stdout.write(`${text}\n`);
};

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = readConfig(argv, process.env);
  } catch (error) {
    if (error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
      return 2;
    }
    throw error;
  }
  for (const [event, name] of Object.entries(RUNTIME_CHANNELS)) {
    subscribe(name, (message) => line(event, message as object));
  }
  for (const [event, name] of Object.entries(BROADCAST_CHANNELS)) {
    subscribe(name, (message) => line(`broadcast-${event}`, message as object));
  }
  if (config.migrate) {
    const pool = createPool({
      url: config.databaseUrl,
      max: 1,
      applicationName: `stream-${config.instance}-migrate`,
    });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
  }
  // Nest's own logger stays off: every line on stdout is one JSON event.
  const app = await NestFactory.createApplicationContext(StreamAppModule.forRoot(config), {
    logger: false,
    abortOnError: false,
  });
  const runner = app.get<StreamRunner>(STREAM_RUNNER);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => (closing ??= app.close());
  process.once('SIGTERM', () => void close());
  process.once('SIGINT', () => void close());
  line('started', {
    instance: config.instance,
    job: config.jobName,
    log: config.log.kind,
    membership: config.membership,
    pid: process.pid,
    httpPort: runner.httpPort,
  });
  try {
    await runner.done;
    line('stopped', { instance: config.instance });
    return 0;
  } finally {
    await close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `stream: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
