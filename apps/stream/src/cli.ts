/**
 * `stream`: runs ONE instance of a job until SIGTERM/SIGINT (then final checkpoints, release,
 * leave). Serves /metrics, /healthz and /readyz on --http-port (default 9465; see ./http.ts,
 * ./metrics.ts). Every runtime event is printed as one JSON line on stdout (`{"event": "checkpoint", ...}`),
 * errors on stderr; the process exits 1 on a fatal error.
 *
 *   node --conditions=@fleet/source --import tsx apps/stream/src/cli.ts \
 *     --job keyed-counts --job-name counts --input telemetry --instance stream-0 --migrate
 */
import { subscribe } from 'node:diagnostics_channel';
import { createPool, migrate } from '@fleet/db';
import { createKafkaLog } from '@fleet/log';
import { createMemoryBackend } from '@fleet/state';
import { RUNTIME_CHANNELS, StreamInstance } from '@fleet/stream-runtime';
import { ConfigError, readConfig, USAGE } from './config.js';
import { startOpsServer } from '@fleet/ops';
import { createStreamMetrics } from './metrics.js';
import { keyedCountsJob } from './jobs/keyed-counts.js';

const line = (event: string, body: object): void => {
  const text = JSON.stringify({ event, at: Date.now(), ...body }, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Error) return { name: v.name, message: v.message, code: (v as { code?: unknown }).code };
    return v;
  });
  process.stdout.write(`${text}\n`);
};

async function main(): Promise<number> {
  let config;
  try {
    config = readConfig(process.argv.slice(2), process.env);
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
  const pool = createPool({ url: config.databaseUrl, max: 4, applicationName: `stream-${config.instance}` });
  if (config.migrate) await migrate(pool);
  const log = createKafkaLog({ brokers: config.brokers, clientId: `stream-${config.instance}` });
  const instance = new StreamInstance({
    job: keyedCountsJob({
      name: config.jobName,
      inputs: config.inputs,
      ...(config.outboxTopic === undefined ? {} : { outboxTopic: config.outboxTopic }),
    }),
    instance: config.instance,
    log,
    pool,
    backend: createMemoryBackend(),
    checkpointIntervalMs: config.checkpointIntervalMs,
    heartbeatMs: config.heartbeatMs,
    sessionTimeoutMs: config.sessionTimeoutMs,
  });
  const metrics = createStreamMetrics({ instance: config.instance, job: config.jobName, source: instance });
  // Readiness has its own admin client, so a probe never waits behind the instance's requests.
  const readinessAdmin = log.admin();
  const firstInput = config.inputs[0] as string;
  const ops = await startOpsServer({
    host: config.http.host,
    port: config.http.port,
    registry: metrics.registry,
    checks: {
      postgres: async () => {
        await pool.query('SELECT 1');
      },
      log: async () => {
        await readinessAdmin.partitionCount(firstInput);
      },
    },
  }).catch(async (error: unknown) => {
    metrics.close();
    await Promise.allSettled([readinessAdmin.close(), pool.end()]);
    throw error;
  });
  const stop = () => void instance.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  line('started', { instance: config.instance, job: config.jobName, pid: process.pid, httpPort: ops.port });
  try {
    await instance.run();
    line('stopped', { instance: config.instance });
    return 0;
  } finally {
    metrics.close();
    await Promise.allSettled([ops.close(), readinessAdmin.close()]);
    await pool.end();
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
