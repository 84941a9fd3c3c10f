/**
 * The NestJS shell of one stream instance: the engine is the libraries (@fleet/stream-runtime,
 * @fleet/state, @fleet/log); Nest wires their parts together from the configuration and gives the
 * process its lifecycle (start on bootstrap; on SIGTERM/SIGINT: final checkpoints, release, leave,
 * then close the clients, in that order).
 *
 * Factory providers only, no decorators: the parts are library objects, not Nest classes, and the
 * sources run through esbuild (tsx), which does not emit decorator metadata.
 *
 *   const app = await NestFactory.createApplicationContext(StreamAppModule.forRoot(config));
 *   await app.get(STREAM_RUNNER).done; // the instance stopped (close() or a fatal error)
 */
import type { DynamicModule, Provider } from '@nestjs/common';
import { createPool } from '@fleet/db';
import { createFileLog, createKafkaLog, type Log } from '@fleet/log';
import { startOpsServer, type OpsServer } from '@fleet/ops';
import { createLevelBackend, createMemoryBackend } from '@fleet/state';
import { StreamInstance } from '@fleet/stream-runtime';
import type { StreamConfig } from './config.js';
import { keyedCountsJob, type CountInput } from './jobs/keyed-counts.js';
import { createStreamMetrics, type StreamMetrics } from './metrics.js';

export const STREAM_CONFIG = Symbol('STREAM_CONFIG');
export const DB_POOL = Symbol('DB_POOL');
export const STREAM_LOG = Symbol('STREAM_LOG');
export const STREAM_INSTANCE = Symbol('STREAM_INSTANCE');
export const STREAM_METRICS = Symbol('STREAM_METRICS');
export const STREAM_RUNNER = Symbol('STREAM_RUNNER');

type Pool = ReturnType<typeof createPool>;

/** Runs the instance for the application's lifetime and closes every part on shutdown. */
export class StreamRunner {
  private running: Promise<void> | undefined;
  private settle!: (error?: unknown) => void;
  /** Resolves when the instance has stopped; rejects with a fatal runtime error. */
  readonly done: Promise<void>;

  constructor(
    private readonly instance: StreamInstance<CountInput>,
    private readonly parts: {
      readonly pool: Pool;
      readonly metrics: StreamMetrics;
      readonly ops: OpsServer;
      readonly readinessAdmin: { close(): Promise<void> };
    },
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (error?: unknown) => (error === undefined ? resolve() : reject(error));
    });
  }

  /** The operations endpoint's port (the configured one, or the one picked for port 0). */
  get httpPort(): number {
    return this.parts.ops.port;
  }

  onApplicationBootstrap(): void {
    this.running = this.instance.run().then(
      () => this.settle(),
      (error: unknown) => {
        this.settle(error);
      },
    );
  }

  /** First the instance: final checkpoints and release while the pool and the log still work. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.instance.close();
    await this.running;
  }

  async onApplicationShutdown(): Promise<void> {
    this.parts.metrics.close();
    await Promise.allSettled([this.parts.ops.close(), this.parts.readinessAdmin.close()]);
    await this.parts.pool.end();
  }
}

export class StreamAppModule {
  static forRoot(config: StreamConfig): DynamicModule {
    const providers: Provider[] = [
      { provide: STREAM_CONFIG, useValue: config },
      {
        provide: DB_POOL,
        inject: [STREAM_CONFIG],
        useFactory: (c: StreamConfig) =>
          createPool({ url: c.databaseUrl, max: 4, applicationName: `stream-${c.instance}` }),
      },
      {
        provide: STREAM_LOG,
        inject: [STREAM_CONFIG],
        useFactory: (c: StreamConfig): Log =>
          c.log.kind === 'file'
            ? createFileLog({ dir: c.log.dir })
            : createKafkaLog({ brokers: c.log.brokers, clientId: `stream-${c.instance}` }),
      },
      {
        provide: STREAM_INSTANCE,
        inject: [STREAM_CONFIG, STREAM_LOG, DB_POOL],
        useFactory: (c: StreamConfig, log: Log, pool: Pool) =>
          new StreamInstance({
            job: keyedCountsJob({
              name: c.jobName,
              inputs: c.inputs,
              ...(c.outboxTopic === undefined ? {} : { outboxTopic: c.outboxTopic }),
              ...(c.lateTopic === undefined ? {} : { lateTopic: c.lateTopic }),
            }),
            instance: c.instance,
            log,
            pool,
            // A partition's local state is dropped and rebuilt from its checkpoint on every claim,
            // so a LevelDB folder never holds state this instance does not own.
            backend:
              c.state.kind === 'leveldb' ? createLevelBackend({ dir: c.state.dir }) : createMemoryBackend(),
            checkpointIntervalMs: c.checkpointIntervalMs,
            heartbeatMs: c.heartbeatMs,
            sessionTimeoutMs: c.sessionTimeoutMs,
            membership: c.membership,
            compactAfterSegments: c.compactAfterSegments,
          }),
      },
      {
        provide: STREAM_METRICS,
        inject: [STREAM_CONFIG, STREAM_INSTANCE],
        useFactory: (c: StreamConfig, instance: StreamInstance<CountInput>) =>
          createStreamMetrics({ instance: c.instance, job: c.jobName, source: instance }),
      },
      {
        provide: STREAM_RUNNER,
        inject: [STREAM_CONFIG, STREAM_INSTANCE, STREAM_LOG, DB_POOL, STREAM_METRICS],
        useFactory: async (
          c: StreamConfig,
          instance: StreamInstance<CountInput>,
          log: Log,
          pool: Pool,
          metrics: StreamMetrics,
        ) => {
          // Readiness has its own admin client, so a probe never waits behind the instance's requests.
          const readinessAdmin = log.admin();
          const firstInput = c.inputs[0] as string;
          let ops: OpsServer;
          try {
            ops = await startOpsServer({
              host: c.http.host,
              port: c.http.port,
              registry: metrics.registry,
              checks: {
                postgres: async () => {
                  await pool.query('SELECT 1');
                },
                log: async () => {
                  await readinessAdmin.partitionCount(firstInput);
                },
              },
            });
          } catch (error) {
            metrics.close();
            await Promise.allSettled([readinessAdmin.close(), pool.end()]);
            throw error;
          }
          return new StreamRunner(instance, { pool, metrics, ops, readinessAdmin });
        },
      },
    ];
    return { module: StreamAppModule, providers, exports: [STREAM_RUNNER] };
  }
}
