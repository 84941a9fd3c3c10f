/**
 * The gateway's configuration: an optional JSON file (`--config` or FLEET_GATEWAY_CONFIG) with
 * environment overrides on top, validated once at start and passed on frozen.
 *
 * A minimal file (everything else has a default):
 *
 *   {
 *     "kafka": { "brokers": ["kafka-1:9092"] },
 *     "databaseUrl": "postgres://fleet:secret@db:5432/fleet",
 *     "mqtt": { "tcp": { "port": 1883 },
 *               "tls": { "port": 8883, "certFile": "/etc/fleet-gateway/tls.crt", "keyFile": "/etc/fleet-gateway/tls.key" } }
 *   }
 *
 * External-broker mode (Mosquitto, EMQX) replaces the embedded listeners with one client that joins
 * a shared subscription:
 *
 *   { "mqtt": { "mode": "external", "external": { "url": "mqtt://broker:1883", "username": "gateway",
 *                                                 "password": "...", "group": "fleet-gateways" } } }
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { ID_PATTERN } from '@fleet/protocol';
import { z } from 'zod';

const port = z.int().min(0).max(65535);
const host = z.string().min(1).default('0.0.0.0');
const int = (min: number, max: number) => z.int().min(min).max(max);

const listener = z.strictObject({ host, port });
const tlsListener = z.strictObject({
  host,
  port,
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** Client certificates are not required; robots authenticate with their secret. */
  caFile: z.string().min(1).optional(),
});

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;

export const configSchema = z.strictObject({
  /** Names this instance in logs, metrics and the command-offset table. */
  gatewayId: z.string().regex(ID_PATTERN).default(defaultGatewayId()),
  mqtt: z
    .strictObject({
      mode: z.enum(['embedded', 'external']).default('embedded'),
      tcp: listener.nullable().default({ host: '0.0.0.0', port: 1883 }),
      tls: tlsListener.nullable().default(null),
      /** MQTT over WebSocket (path `/mqtt`), for browsers and proxies that pass only HTTP. */
      ws: listener.nullable().default(null),
      /** Largest MQTT packet accepted; a bigger one closes the connection (telemetry batches are < 64 KiB). */
      maxPacketBytes: int(1024, 16 * 1024 * 1024).default(256 * 1024),
      /** Time a new connection has to send CONNECT. */
      connectTimeoutMs: int(100, 120_000).default(30_000),
      external: z
        .strictObject({
          url: z.string().regex(/^(mqtts?|tcp|ssl|wss?):\/\//, 'an mqtt:// or mqtts:// URL'),
          username: z.string().min(1).optional(),
          password: z.string().optional(),
          /** Shared-subscription group: each message goes to one gateway of the group. */
          group: z
            .string()
            .regex(/^[^/+#]+$/)
            .default('fleet-gateways'),
          clientId: z.string().min(1).optional(),
          caFile: z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  kafka: z
    .strictObject({
      brokers: z.array(z.string().regex(/^[^\s,:]+:\d+$/, 'host:port')).min(1),
      clientId: z.string().min(1).default('fleet-gateway'),
      /** The platform's one partition count, used when the gateway creates missing topics. */
      partitions: int(1, 10_000).default(12),
      /** Create missing topics at start (never changes existing ones). */
      createTopics: z.boolean().default(true),
      replicationFactor: int(1, 32).default(1),
      /** Upper bound of one produce attempt; the bridge retries after it. */
      deliveryTimeoutMs: int(1000, 600_000).default(30_000),
      /**
       * How long a record may wait for others to share its produce request (Java's `linger.ms`,
       * whose default is 5 ms since Kafka 4.0). Fewer, fuller requests cost the gateway and the
       * broker less CPU per PUBLISH; the PUBACK comes at most this much later. 0: no waiting.
       */
      lingerMs: int(0, 1000).default(5),
    })
    .optional(),
  databaseUrl: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'a postgres:// URL')
    .optional(),
  bridge: z
    .strictObject({
      /**
       * Payload bytes of PUBLISH packets accepted but not yet acknowledged by Kafka, all connections
       * together. Above it, newly parsed packets wait before they are produced (their connections
       * are already paused, since aedes reads a socket again only after its packets are handled).
       */
      maxInflightBytes: int(64 * 1024, 2 ** 31).default(64 * 1024 * 1024),
      retryInitialMs: int(10, 60_000).default(200),
      retryMaxMs: int(100, 300_000).default(5000),
      /**
       * A PUBLISH still not in Kafka after this long closes its connection; the robot reconnects
       * and resends from its spool. 0: wait as long as the connection lives.
       */
      maxPublishWaitMs: int(0, 3_600_000).default(0),
    })
    .prefault({}),
  auth: z
    .strictObject({
      /** How long a credential row is trusted before it is read again (bounds revocation delay). */
      cacheTtlMs: int(0, 3_600_000).default(30_000),
    })
    .prefault({}),
  commands: z
    .strictObject({
      enabled: z.boolean().default(true),
      /** Longest a poll of the commands topic waits. */
      pollMs: int(10, 10_000).default(250),
    })
    .prefault({}),
  presence: z
    .strictObject({
      /** An offline change is written only if the robot has not reconnected within this time. */
      graceMs: int(0, 60_000).default(1000),
    })
    .prefault({}),
  http: z
    .strictObject({ host: z.string().min(1).default('0.0.0.0'), port: port.default(9464) })
    .nullable()
    .prefault({}),
  logLevel: z.enum(LOG_LEVELS).default('info'),
});

type Parsed = z.output<typeof configSchema>;
/** The validated configuration: Kafka and PostgreSQL are required, from the file or the environment. */
export type GatewayConfig = Readonly<
  Omit<Parsed, 'kafka' | 'databaseUrl'> & { kafka: NonNullable<Parsed['kafka']>; databaseUrl: string }
>;
export type GatewayConfigInput = z.input<typeof configSchema>;

function defaultGatewayId(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 56);
  return ID_PATTERN.test(name) ? `gw-${name}`.slice(0, 64) : 'gw-1';
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** FLEET_GATEWAY_* variable → field path; see README "Gateway configuration". */
const ENV: readonly (readonly [string, string, 'string' | 'int' | 'list' | 'bool'])[] = [
  ['FLEET_GATEWAY_ID', 'gatewayId', 'string'],
  ['FLEET_GATEWAY_MQTT_MODE', 'mqtt.mode', 'string'],
  ['FLEET_GATEWAY_MQTT_HOST', 'mqtt.tcp.host', 'string'],
  ['FLEET_GATEWAY_MQTT_PORT', 'mqtt.tcp.port', 'int'],
  ['FLEET_GATEWAY_TLS_PORT', 'mqtt.tls.port', 'int'],
  ['FLEET_GATEWAY_TLS_CERT_FILE', 'mqtt.tls.certFile', 'string'],
  ['FLEET_GATEWAY_TLS_KEY_FILE', 'mqtt.tls.keyFile', 'string'],
  ['FLEET_GATEWAY_WS_PORT', 'mqtt.ws.port', 'int'],
  ['FLEET_GATEWAY_EXTERNAL_URL', 'mqtt.external.url', 'string'],
  ['FLEET_GATEWAY_EXTERNAL_USERNAME', 'mqtt.external.username', 'string'],
  ['FLEET_GATEWAY_EXTERNAL_PASSWORD', 'mqtt.external.password', 'string'],
  ['FLEET_GATEWAY_EXTERNAL_GROUP', 'mqtt.external.group', 'string'],
  ['KAFKA_BROKERS', 'kafka.brokers', 'list'],
  ['FLEET_GATEWAY_KAFKA_PARTITIONS', 'kafka.partitions', 'int'],
  ['FLEET_GATEWAY_KAFKA_LINGER_MS', 'kafka.lingerMs', 'int'],
  ['DATABASE_URL', 'databaseUrl', 'string'],
  ['FLEET_GATEWAY_MAX_INFLIGHT_BYTES', 'bridge.maxInflightBytes', 'int'],
  ['FLEET_GATEWAY_HTTP_PORT', 'http.port', 'int'],
  ['FLEET_GATEWAY_LOG_LEVEL', 'logLevel', 'string'],
];
export const GATEWAY_ENV_VARIABLES: readonly string[] = ENV.map(([name]) => name);

type Doc = Record<string, unknown>;

function setPath(doc: Doc, path: readonly string[], value: unknown): void {
  let at = doc;
  for (const key of path.slice(0, -1)) {
    const next = at[key];
    if (next === null || typeof next !== 'object') at[key] = {};
    at = at[key] as Doc;
  }
  at[path[path.length - 1] as string] = value;
}

function convert(raw: string, kind: 'string' | 'int' | 'list' | 'bool'): unknown {
  switch (kind) {
    case 'int':
      return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
    case 'list':
      return raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    case 'bool':
      return raw === 'true' ? true : raw === 'false' ? false : raw;
    default:
      return raw;
  }
}

/** Resolves relative TLS file paths against the config file's folder. */
function resolveFiles(doc: Doc, base: string): void {
  const mqtt = doc['mqtt'] as Doc | undefined;
  const tls = mqtt?.['tls'] as Doc | null | undefined;
  for (const key of ['certFile', 'keyFile', 'caFile']) {
    if (tls && typeof tls[key] === 'string') tls[key] = resolve(base, tls[key]);
  }
  const external = mqtt?.['external'] as Doc | undefined;
  if (external && typeof external['caFile'] === 'string')
    external['caFile'] = resolve(base, external['caFile']);
}

/**
 * Reads and validates the configuration. Throws ConfigError listing every problem, each naming the
 * field and, for overrides, the variable that set it.
 */
export function loadConfig(
  options: { readonly file?: string; readonly env?: NodeJS.ProcessEnv } = {},
): GatewayConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env['FLEET_GATEWAY_CONFIG'] || undefined);
  let doc: Doc = {};
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`cannot read gateway config ${file}: ${(error as Error).message}`);
    }
    try {
      doc = JSON.parse(text) as Doc;
    } catch (error) {
      throw new ConfigError(`gateway config ${file} is not JSON: ${(error as Error).message}`);
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
      throw new ConfigError(`gateway config ${file} must hold a JSON object`);
    }
    resolveFiles(doc, dirname(resolve(file)));
  }
  const sources = new Map<string, string>();
  for (const [name, path, kind] of ENV) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(doc, path.split('.'), convert(raw, kind));
    sources.set(path, name);
  }
  const unknown = Object.keys(env).filter(
    // FLEET_GATEWAY_WORKER is set by `run --workers N` for each worker it forks (cli.ts), not by users.
    (k) =>
      k.startsWith('FLEET_GATEWAY_') &&
      k !== 'FLEET_GATEWAY_CONFIG' &&
      k !== 'FLEET_GATEWAY_WORKER' &&
      !GATEWAY_ENV_VARIABLES.includes(k),
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      `unknown environment variable(s) ${unknown.join(', ')}; known: ${GATEWAY_ENV_VARIABLES.join(', ')}`,
    );
  }
  return parseConfig(doc, sources);
}

export function parseConfig(doc: unknown, sources: ReadonlyMap<string, string> = new Map()): GatewayConfig {
  const parsed = configSchema.safeParse(doc);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const path = issue.path.join('.');
      const variable = sources.get(path);
      return `  ${path || '(root)'}${variable ? ` (from ${variable})` : ''}: ${issue.message}`;
    });
    throw new ConfigError(`invalid gateway configuration:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  const problems: string[] = [];
  if (config.mqtt.mode === 'external' && config.mqtt.external === undefined) {
    problems.push('  mqtt.external: required when mqtt.mode is "external"');
  }
  if (config.mqtt.mode === 'embedded' && !config.mqtt.tcp && !config.mqtt.tls && !config.mqtt.ws) {
    problems.push('  mqtt: the embedded broker needs at least one of tcp, tls, ws');
  }
  if (config.kafka === undefined) problems.push('  kafka.brokers: required (or set KAFKA_BROKERS)');
  if (config.databaseUrl === undefined) problems.push('  databaseUrl: required (or set DATABASE_URL)');
  if (problems.length > 0 || config.kafka === undefined || config.databaseUrl === undefined) {
    throw new ConfigError(`invalid gateway configuration:\n${problems.join('\n')}`);
  }
  return deepFreeze({ ...config, kafka: config.kafka, databaseUrl: config.databaseUrl });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
