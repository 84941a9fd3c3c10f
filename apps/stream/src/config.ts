/**
 * The stream CLI's configuration: read once from argv (and env for secrets-free defaults),
 * validated, frozen, handed on. Nothing else reads process.env.
 */
import { parseArgs } from 'node:util';

/** Where the input and output topics live: Kafka, or the file-backed log of the embedded default. */
export type LogConfig =
  | { readonly kind: 'kafka'; readonly brokers: readonly string[] }
  | { readonly kind: 'file'; readonly dir: string };

/** Where keyed state lives between checkpoints: memory, or LevelDB on local disk (larger than memory). */
export type StateConfig = { readonly kind: 'memory' } | { readonly kind: 'leveldb'; readonly dir: string };

export interface StreamConfig {
  readonly log: LogConfig;
  readonly state: StateConfig;
  readonly databaseUrl: string;
  /** Which built-in job: only `keyed-counts` for now. */
  readonly job: 'keyed-counts';
  /** The job's name (`[a-z][a-z0-9_]*`), so several runs can share one database. */
  readonly jobName: string;
  readonly inputs: readonly string[];
  readonly outboxTopic: string | undefined;
  /** The late-data side output's topic (late elements also stay in the table); none when absent. */
  readonly lateTopic: string | undefined;
  readonly instance: string;
  readonly checkpointIntervalMs: number;
  readonly heartbeatMs: number;
  readonly sessionTimeoutMs: number;
  /**
   * Who owns which partition: the job's Kafka consumer group (KIP-848; the default on Kafka), or
   * PostgreSQL leases alone (the only choice on the file-backed log).
   */
  readonly membership: 'kafka-group' | 'lease';
  /** State segment rows per partition after which a checkpoint compacts them. */
  readonly compactAfterSegments: number;
  readonly migrate: boolean;
  /** The operations endpoint (/metrics, /healthz, /readyz); port 0 picks a free one. */
  readonly http: { readonly host: string; readonly port: number };
}

export const USAGE = `usage: stream --job keyed-counts --job-name NAME --input TOPIC [--input TOPIC...]
              --instance ID [--database-url postgres://...]
              [--log kafka --brokers host:port,... | --log file --log-dir DIR]
              [--state memory | --state leveldb --state-dir DIR]
              [--outbox-topic TOPIC] [--late-topic TOPIC] [--checkpoint-ms 1000] [--heartbeat-ms 1000]
              [--session-timeout-ms 10000] [--membership kafka-group | lease] [--compact-after-segments 64] [--migrate]
              [--http-host 0.0.0.0] [--http-port 9465 (0: any free port)]
env: KAFKA_BROKERS, FLEET_LOG_DIR, FLEET_STREAM_STATE_DIR, DATABASE_URL, FLEET_STREAM_HTTP_HOST, FLEET_STREAM_HTTP_PORT
     (used when the flags are absent)`;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new ConfigError(`--${name} must be a positive integer, got ${raw}`);
  return n;
}

function port(raw: string | undefined, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65_535)
    throw new ConfigError(`--http-port must be an integer in 0..65535, got ${raw}`);
  return n;
}

export function readConfig(argv: readonly string[], env: NodeJS.ProcessEnv): StreamConfig {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      log: { type: 'string', default: 'kafka' },
      'log-dir': { type: 'string' },
      state: { type: 'string', default: 'memory' },
      'state-dir': { type: 'string' },
      brokers: { type: 'string' },
      'database-url': { type: 'string' },
      job: { type: 'string', default: 'keyed-counts' },
      'job-name': { type: 'string' },
      input: { type: 'string', multiple: true },
      'outbox-topic': { type: 'string' },
      'late-topic': { type: 'string' },
      instance: { type: 'string' },
      'checkpoint-ms': { type: 'string' },
      'heartbeat-ms': { type: 'string' },
      'session-timeout-ms': { type: 'string' },
      membership: { type: 'string' },
      'compact-after-segments': { type: 'string' },
      migrate: { type: 'boolean', default: false },
      'http-host': { type: 'string' },
      'http-port': { type: 'string' },
    },
    strict: true,
  });
  let log: LogConfig;
  if (values.log === 'file') {
    const dir = values['log-dir'] ?? env['FLEET_LOG_DIR'] ?? '';
    if (dir === '') throw new ConfigError('--log file needs --log-dir DIR or FLEET_LOG_DIR');
    log = Object.freeze({ kind: 'file', dir });
  } else if (values.log === 'kafka') {
    const brokers = (values.brokers ?? env['KAFKA_BROKERS'] ?? '').split(',').filter((b) => b !== '');
    if (brokers.length === 0) throw new ConfigError('no Kafka brokers: --brokers or KAFKA_BROKERS');
    log = Object.freeze({ kind: 'kafka', brokers: Object.freeze(brokers) });
  } else {
    throw new ConfigError(`--log must be kafka or file, got ${String(values.log)}`);
  }
  const databaseUrl = values['database-url'] ?? env['DATABASE_URL'] ?? '';
  if (!/^postgres(ql)?:\/\//.test(databaseUrl))
    throw new ConfigError('no database: --database-url or DATABASE_URL');
  let state: StateConfig;
  if (values.state === 'leveldb') {
    const dir = values['state-dir'] ?? env['FLEET_STREAM_STATE_DIR'] ?? '';
    if (dir === '') throw new ConfigError('--state leveldb needs --state-dir DIR or FLEET_STREAM_STATE_DIR');
    state = Object.freeze({ kind: 'leveldb', dir });
  } else if (values.state === 'memory') {
    state = Object.freeze({ kind: 'memory' });
  } else {
    throw new ConfigError(`--state must be memory or leveldb, got ${String(values.state)}`);
  }
  if (values.job !== 'keyed-counts') throw new ConfigError(`unknown job ${String(values.job)}`);
  const jobName = values['job-name'] ?? '';
  if (!/^[a-z][a-z0-9_]*$/.test(jobName)) throw new ConfigError('--job-name must match [a-z][a-z0-9_]*');
  const inputs = values.input ?? [];
  if (inputs.length === 0) throw new ConfigError('at least one --input topic');
  const instance = values.instance ?? '';
  if (instance === '') throw new ConfigError('--instance is required');
  const heartbeatMs = positiveInt('heartbeat-ms', values['heartbeat-ms'], 1000);
  const sessionTimeoutMs = positiveInt('session-timeout-ms', values['session-timeout-ms'], 10_000);
  if (sessionTimeoutMs <= 2 * heartbeatMs)
    throw new ConfigError('--session-timeout-ms must be more than twice --heartbeat-ms');
  const membership = values.membership ?? (log.kind === 'kafka' ? 'kafka-group' : 'lease');
  if (membership !== 'kafka-group' && membership !== 'lease')
    throw new ConfigError(`--membership must be kafka-group or lease, got ${membership}`);
  if (membership === 'kafka-group' && log.kind !== 'kafka')
    throw new ConfigError(
      '--membership kafka-group needs --log kafka (the file log has no group coordinator)',
    );
  return Object.freeze({
    log,
    state,
    membership,
    compactAfterSegments: positiveInt('compact-after-segments', values['compact-after-segments'], 64),
    databaseUrl,
    job: 'keyed-counts',
    jobName,
    inputs: Object.freeze([...inputs]),
    outboxTopic: values['outbox-topic'],
    lateTopic: values['late-topic'],
    instance,
    checkpointIntervalMs: positiveInt('checkpoint-ms', values['checkpoint-ms'], 1000),
    heartbeatMs,
    sessionTimeoutMs,
    migrate: values.migrate ?? false,
    http: Object.freeze({
      host: values['http-host'] ?? env['FLEET_STREAM_HTTP_HOST'] ?? '0.0.0.0',
      port: port(values['http-port'] ?? env['FLEET_STREAM_HTTP_PORT'], 9465),
    }),
  });
}
