/**
 * The agent's configuration: a JSON file, then `FLEET_AGENT_*` environment overrides
 * (config-env.ts), validated once at start-up and handed on frozen. Nothing else reads the file or
 * the environment.
 *
 * Relative paths in the file and in overrides (spool dir, TLS files, password file) are resolved
 * against the directory of the configuration file. Unknown keys are errors (a typo must not leave
 * a default in force). A complete file, every optional field at its default:
 *
 *   {
 *     "robotId": "r-17", "siteId": "site-3",
 *     "serial": {
 *       "path": "/dev/ttyS1", "baudRate": 115200,
 *       "resume": { "holdMs": 500, "maxQuietMs": 5000, "lateToleranceMs": 100, "maxCatchUpMs": 30000, "maxHeld": 8192 }
 *     },
 *     "mqtt": {
 *       "urls": ["mqtts://broker.example:8883"],
 *       "username": "<robotId>", "passwordFile": "/etc/fleet-agent/password",
 *       "clientId": "fleet-agent-<robotId>", "protocolVersion": 4, "keepaliveSeconds": 30,
 *       "connectTimeoutMs": 10000, "maxInflight": 16, "cleanSession": false, "sessionExpirySeconds": 86400,
 *       "tls": { "caFile": "ca.pem", "certFile": "robot.pem", "keyFile": "robot.key", "rejectUnauthorized": true }
 *     },
 *     "batch": { "maxSamples": 500, "maxDelayMs": 1000 },
 *     "spool": { "dir": "/var/lib/fleet-agent/spool", "maxBytes": 268435456, "fsync": "interval", "fsyncIntervalMs": 1000 },
 *     "commands": { "timeoutMs": 10000 },
 *     "reconnect": { "initialMs": 1000, "maxMs": 60000, "jitter": 1 },
 *     "timeSync": { "intervalMs": 60000, "samples": 8, "requestTimeoutMs": 5000 },
 *     "clock": { "windowMs": 600000, "bucketMs": 5000 },
 *     "shutdown": { "drainTimeoutMs": 5000 },
 *     "logLevel": "info"
 *   }
 *
 * (`mqtt.password` may stand in for `passwordFile`; `spool.priorityMaxBytes` is optional.)
 * The environment variables are listed in config-env.ts (`FLEET_AGENT_ROBOT_ID`,
 * `FLEET_AGENT_MQTT_URL` as a comma-separated list, `FLEET_AGENT_MQTT_PASSWORD`, ...).
 *
 * @example
 * const config = await loadConfig({ file: '/etc/fleet-agent/agent.json', env: process.env });
 * config.mqtt.urls; // ['mqtts://broker.example:8883']
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ID_PATTERN, MAX_BATCH_SAMPLES } from '@fleet/protocol';
import { z } from 'zod';
import { applyEnvOverrides, ENV_OVERRIDES } from './config-env.js';
import { DIAGNOSTIC_LEVELS } from './diagnostics.js';
import { AgentError, AgentErrorCode, errorMessage } from './errors.js';

const int = (min: number, max: number) => z.int().min(min).max(max);
const HOUR_MS = 3_600_000;

/**
 * The schema of the file, built for each validation and dropped after it: the agent validates once
 * at start-up, so no zod schema stays on its heap for months (docs/decisions/0007-agent-memory.md).
 */
function buildFileSchema() {
  const idSchema = (label: string) =>
    z.string().regex(ID_PATTERN, `${label} id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}`);
  const mqttUrlSchema = z.string().refine(
    (u) => {
      try {
        const url = new URL(u);
        return (url.protocol === 'mqtt:' || url.protocol === 'mqtts:') && url.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'must be an mqtt:// or mqtts:// URL with a host, e.g. mqtts://broker.example:8883' },
  );

  return z
    .strictObject({
      robotId: idSchema('robot'),
      siteId: idSchema('site'),
      serial: z.strictObject({
        /** The UART the robot's microcontroller is wired to, e.g. /dev/ttyS1. */
        path: z.string().min(1),
        baudRate: int(300, 4_000_000).default(115_200),
        /** The catch-up after each (re)open of the line; see serial/resume.ts. */
        resume: z
          .strictObject({
            /** Quiet time (no replayed frame found) that ends a catch-up. */
            holdMs: int(10, 60_000).default(500),
            /** Upper bound of the quiet time when it is scaled up from a slow sample rate. */
            maxQuietMs: int(10, 10 * 60_000).default(5000),
            /** A held frame is replayed when a later one arrived with a delay smaller by more than this. */
            lateToleranceMs: int(1, 60_000).default(100),
            /** A catch-up ends after this long, whatever happens. */
            maxCatchUpMs: int(100, HOUR_MS).default(30_000),
            /** Frames held at most; reaching it ends the catch-up (4 × the firmware's 2048-frame ring). */
            maxHeld: int(16, 1_000_000).default(8192),
          })
          .refine((r) => r.maxQuietMs >= r.holdMs, {
            message: 'maxQuietMs must be >= holdMs',
            path: ['maxQuietMs'],
          })
          .refine((r) => r.maxCatchUpMs >= r.holdMs, {
            message: 'maxCatchUpMs must be >= holdMs',
            path: ['maxCatchUpMs'],
          })
          .prefault({}),
      }),
      mqtt: z.strictObject({
        /** Tried in turn, one per connection attempt. */
        urls: z.array(mqttUrlSchema).min(1).max(8),
        /** Defaults to the robot id (per-robot credentials). */
        username: z.string().min(1).max(256).optional(),
        password: z.string().max(1024).optional(),
        /** A file holding the password (one line); preferred over `password` in the file. */
        passwordFile: z.string().min(1).optional(),
        /** Defaults to `fleet-agent-<robotId>`; stable, so the broker keeps the session. */
        clientId: z.string().min(1).max(128).optional(),
        /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
        protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4),
        keepaliveSeconds: int(5, 3600).default(30),
        connectTimeoutMs: int(100, 120_000).default(10_000),
        /** Publishes awaiting PUBACK at once. */
        maxInflight: int(1, 1000).default(16),
        /** false keeps the subscription to `cmd` at the broker while the robot is offline. */
        cleanSession: z.boolean().default(false),
        /** MQTT 5 only: how long the broker keeps the session after a disconnect. */
        sessionExpirySeconds: int(0, 0xffff_ffff).default(86_400),
        tls: z
          .strictObject({
            caFile: z.string().min(1).optional(),
            certFile: z.string().min(1).optional(),
            keyFile: z.string().min(1).optional(),
            rejectUnauthorized: z.boolean().default(true),
          })
          .prefault({}),
      }),
      batch: z
        .strictObject({
          maxSamples: int(1, MAX_BATCH_SAMPLES).default(500),
          maxDelayMs: int(0, 10 * 60_000).default(1000),
        })
        .prefault({}),
      spool: z
        .strictObject({
          dir: z.string().min(1).default('/var/lib/fleet-agent/spool'),
          maxBytes: int(64 * 1024, Number.MAX_SAFE_INTEGER).default(256 * 1024 * 1024),
          priorityMaxBytes: int(64 * 1024, Number.MAX_SAFE_INTEGER).optional(),
          fsync: z.enum(['always', 'interval', 'never']).default('interval'),
          fsyncIntervalMs: int(1, 60_000).default(1000),
        })
        .prefault({}),
      commands: z
        .strictObject({
          /** How long the firmware has to answer a command before the agent acks `timeout`. */
          timeoutMs: int(100, HOUR_MS).default(10_000),
        })
        .prefault({}),
      reconnect: z
        .strictObject({
          initialMs: int(10, HOUR_MS).default(1000),
          maxMs: int(10, 24 * HOUR_MS).default(60_000),
          /** 1 = full jitter (uniform in [0, backoff]); 0 = none. */
          jitter: z.number().min(0).max(1).default(1),
        })
        .refine((r) => r.maxMs >= r.initialMs, { message: 'maxMs must be >= initialMs', path: ['maxMs'] })
        .prefault({}),
      timeSync: z
        .strictObject({
          /** Re-sync period once synced; until then the agent asks every 2 s. */
          intervalMs: int(1000, 24 * HOUR_MS).default(60_000),
          /** Exchanges remembered; the one with the smallest round-trip delay wins. */
          samples: int(1, 64).default(8),
          requestTimeoutMs: int(100, 60_000).default(5000),
        })
        .prefault({}),
      clock: z
        .strictObject({
          /** Robot-clock observations kept for the offset and drift fit. */
          windowMs: int(10_000, 24 * HOUR_MS).default(600_000),
          bucketMs: int(100, 60_000).default(5000),
        })
        .refine((c) => c.windowMs >= 2 * c.bucketMs, {
          message: 'windowMs must be at least 2 × bucketMs',
          path: ['windowMs'],
        })
        .prefault({}),
      shutdown: z
        .strictObject({
          /** On SIGTERM, how long to keep publishing the backlog before disconnecting. */
          drainTimeoutMs: int(0, 120_000).default(5000),
        })
        .prefault({}),
      logLevel: z.enum(DIAGNOSTIC_LEVELS).default('info'),
    })
    .superRefine((c, ctx) => {
      if (c.mqtt.password !== undefined && c.mqtt.passwordFile !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['mqtt', 'passwordFile'],
          message: 'set either mqtt.password or mqtt.passwordFile, not both',
        });
      }
      const { certFile, keyFile, caFile } = c.mqtt.tls;
      if ((certFile === undefined) !== (keyFile === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: ['mqtt', 'tls', certFile === undefined ? 'certFile' : 'keyFile'],
          message: 'a client certificate needs both certFile and keyFile',
        });
      }
      const usesTls = c.mqtt.urls.some((u) => u.startsWith('mqtts:'));
      if (!usesTls && (certFile ?? keyFile ?? caFile) !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['mqtt', 'tls'],
          message: 'TLS files are set but no mqtt.urls entry is mqtts:// (they would be ignored)',
        });
      }
    });
}

type FileConfig = z.output<ReturnType<typeof buildFileSchema>>;

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** The validated configuration, every default filled in; deeply frozen. */
export type AgentConfig = DeepReadonly<
  Omit<FileConfig, 'mqtt'> & {
    mqtt: Omit<FileConfig['mqtt'], 'username' | 'clientId' | 'passwordFile'> & {
      username: string;
      clientId: string;
      /** Path of the password file, when the password came from one. */
      passwordFile: string | undefined;
    };
  }
>;

export interface ConfigSource {
  /** The JSON configuration file. */
  readonly file: string;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Reads, overrides, validates and freezes. Throws AgentError CONFIG_INVALID naming each bad field. */
export async function loadConfig(source: ConfigSource): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(source.file, 'utf8');
  } catch (e) {
    throw invalid(`cannot read configuration file ${source.file}: ${errorMessage(e)}`, e);
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (e) {
    throw invalid(`configuration file ${source.file} is not valid JSON: ${errorMessage(e)}`, e);
  }
  const config = parseConfig(document, source.env, dirname(resolve(source.file)));
  if (config.mqtt.passwordFile === undefined) return config;
  const password = await readPasswordFile(config.mqtt.passwordFile);
  return deepFreeze({ ...config, mqtt: { ...config.mqtt, password } });
}

/**
 * Validates a parsed document with the environment's overrides; `baseDir` anchors relative paths.
 * Pure: reads no file (the password file is read by `loadConfig`).
 */
export function parseConfig(
  document: unknown,
  env: Readonly<Record<string, string | undefined>>,
  baseDir: string,
): AgentConfig {
  const applied = applyEnvOverrides(document, env);
  const problems: string[] = applied.unknown.map((v) => `${v}: unknown variable${suggest(v)}`);
  const result = buildFileSchema().safeParse(applied.document);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path.map(String).join('.');
      const variable = sourceOf(path, applied.sources);
      const where = path === '' ? '(configuration)' : path;
      problems.push(`${where}${variable === undefined ? '' : ` (from ${variable})`}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) {
    throw invalid(`invalid agent configuration:\n  - ${problems.join('\n  - ')}`, undefined, problems);
  }
  const c = result.data;
  const at = (p: string | undefined) => (p === undefined ? undefined : resolve(baseDir, p));
  return deepFreeze({
    ...c,
    spool: { ...c.spool, dir: resolve(baseDir, c.spool.dir) },
    mqtt: {
      ...c.mqtt,
      username: c.mqtt.username ?? c.robotId,
      clientId: c.mqtt.clientId ?? `fleet-agent-${c.robotId}`,
      passwordFile: at(c.mqtt.passwordFile),
      tls: {
        ...c.mqtt.tls,
        caFile: at(c.mqtt.tls.caFile),
        certFile: at(c.mqtt.tls.certFile),
        keyFile: at(c.mqtt.tls.keyFile),
      },
    },
  });
}

/** The configuration as it may be logged: the password replaced. */
export function redactConfig(config: AgentConfig): unknown {
  return {
    ...config,
    mqtt: { ...config.mqtt, password: config.mqtt.password === undefined ? undefined : '***' },
  };
}

async function readPasswordFile(path: string): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  } catch (e) {
    throw new AgentError(
      AgentErrorCode.CONFIG_FILE_UNREADABLE,
      `mqtt.passwordFile: cannot read ${path}: ${errorMessage(e)}`,
      { path },
      { cause: e },
    );
  }
}

function sourceOf(path: string, sources: ReadonlyMap<string, string>): string | undefined {
  for (const [field, variable] of sources) {
    if (path === field || path.startsWith(`${field}.`)) return variable;
  }
  return undefined;
}

/** ` (did you mean X?)` for a near miss, else the list of known variables. */
function suggest(variable: string): string {
  const known = ENV_OVERRIDES.map((o) => o.variable);
  const near = known.map((k) => ({ k, d: editDistance(variable, k) })).sort((a, b) => a.d - b.d)[0];
  if (near !== undefined && near.d <= 3) return ` (did you mean ${near.k}?)`;
  return ` (known: ${known.join(', ')})`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

function invalid(message: string, cause?: unknown, problems: readonly string[] = [message]): AgentError {
  return new AgentError(AgentErrorCode.CONFIG_INVALID, message, { problems }, { cause });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
