/**
 * Vitest global setup of the integration tier (vitest.config.ts, project "integration").
 *
 * Starts the real services once for the whole run, in parallel, and hands their addresses to the
 * tests through `inject()`; tears them down at the end. A service given from outside by its
 * environment variable (CI, or a developer's `npm run kafka:start`) is used as is, after a check
 * that it answers.
 *
 * If a service cannot start, this THROWS and the run fails: integration tests never skip.
 *
 * Services: Kafka (`KAFKA_BROKERS`, or a broker from kafka-broker.ts; `KAFKA_VERSION` picks the
 * release) and PostgreSQL (`DATABASE_URL`, or one embedded server; each suite makes its own
 * database with `createTestDatabase`). Another service is one more entry in `services` below.
 */
import type { TestProject } from 'vitest/node';
import { startKafkaBroker } from './kafka-broker.js';
import type {} from './kafka-context.js';
import { probeKafka } from './kafka-probe.js';
import type {} from './postgres-context.js';
import { startTestPostgres } from './postgres.js';

/** A started service: what it provides to tests, and how to stop it (no-op when external). */
interface RunningService {
  readonly description: string;
  provide(project: TestProject): void;
  stop(): Promise<void>;
}

interface Service {
  readonly name: string;
  start(env: NodeJS.ProcessEnv): Promise<RunningService>;
}

const kafka: Service = {
  name: 'kafka',
  async start(env) {
    const external = env['KAFKA_BROKERS'];
    if (external !== undefined && external !== '') {
      const [first] = external.split(',');
      const [host, port] = (first ?? '').split(':');
      try {
        await probeKafka(host ?? '', Number(port), 10_000);
      } catch (error) {
        throw new Error(`KAFKA_BROKERS=${external} is set but does not answer: ${(error as Error).message}`, {
          cause: error,
        });
      }
      return {
        description: `Kafka at ${external} (KAFKA_BROKERS)`,
        provide: (project) => project.provide('kafkaBrokers', external),
        stop: async () => undefined,
      };
    }
    const version = env['KAFKA_VERSION'];
    const broker = await startKafkaBroker(version !== undefined && version !== '' ? { version } : {});
    const { jarsMs, formatMs, startMs } = broker.timings;
    return {
      description:
        `Kafka ${broker.version} on ${broker.brokers} (pid ${broker.pid}; ` +
        `${jarsMs > 0 ? `jars resolved in ${jarsMs} ms, ` : ''}format ${formatMs} ms, start ${startMs} ms; log ${broker.logFile})`,
      provide: (project) => project.provide('kafkaBrokers', broker.brokers),
      stop: () => broker.stop(),
    };
  },
};

const postgres: Service = {
  name: 'postgres',
  async start(env) {
    const pg = await startTestPostgres(env);
    return {
      description: pg.description,
      provide: (project) => project.provide('databaseUrl', pg.url),
      stop: () => pg.stop(),
    };
  },
};

const services: readonly Service[] = [kafka, postgres];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const settled = await Promise.allSettled(services.map((service) => service.start(process.env)));
  const running = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failures = settled.flatMap((s, i) =>
    s.status === 'rejected'
      ? [
          new Error(`[${services[i]?.name}] ${(s.reason as Error).message ?? String(s.reason)}`, {
            cause: s.reason,
          }),
        ]
      : [],
  );
  if (failures.length > 0) {
    await Promise.allSettled(running.map((r) => r.stop()));
    const message = `Integration services failed to start; the run cannot go on:\n${failures.map((f) => f.message).join('\n\n')}`;
    throw failures.length === 1
      ? new Error(message, { cause: failures[0] })
      : new AggregateError(failures, message);
  }
  for (const service of running) {
    service.provide(project);
    console.info(`[integration] ${service.description}`);
  }
  return async () => {
    const stopped = await Promise.allSettled(running.map((r) => r.stop()));
    const errors = stopped.flatMap((s) => (s.status === 'rejected' ? [s.reason as Error] : []));
    if (errors.length > 0) throw new AggregateError(errors, 'Stopping integration services failed');
  };
}
