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
import { applyEnvOverrides, ENV_OVERRIDES } from './config-env.js';
import {
  array,
  boolean,
  FAIL,
  int,
  number,
  object,
  oneOf,
  optional,
  string,
  withDefault,
  type Issue,
  type Spec,
} from './config/check.js';
import { DIAGNOSTIC_LEVELS } from './diagnostics.js';
import { AgentError, AgentErrorCode, errorMessage } from './errors.js';

const HOUR_MS = 3_600_000;

/**
 * The schema of the file (config/check.ts, not zod: the agent validates once at start-up, and
 * zod's code would stay resident for the agent's whole life; docs/decisions/0007-agent-memory.md).
 * Built for each validation and dropped after it.
 */
function buildFileSchema() {
  const id = (label: string): Spec<string> =>
    string({ pattern: ID_PATTERN, message: `${label} id must match [A-Za-z0-9][A-Za-z0-9_.-]{0,63}` });
  const mqttUrl = string({
    message: 'must be an mqtt:// or mqtts:// URL with a host, e.g. mqtts://broker.example:8883',
    check: (u) => {
      try {
        const url = new URL(u);
        return (url.protocol === 'mqtt:' || url.protocol === 'mqtts:') && url.hostname !== '';
      } catch {
        return false;
      }
    },
  });
  const nonEmpty = string({ min: 1 });

  return object(
    {
      robotId: id('robot'),
      siteId: id('site'),
      serial: object({
        /** The UART the robot's microcontroller is wired to, e.g. /dev/ttyS1. */
        path: nonEmpty,
        baudRate: withDefault(int(300, 4_000_000), 115_200),
        /** The catch-up after each (re)open of the line; see serial/resume.ts. */
        resume: withDefault(
          object(
            {
              /** Quiet time (no replayed frame found) that ends a catch-up. */
              holdMs: withDefault(int(10, 60_000), 500),
              /** Upper bound of the quiet time when it is scaled up from a slow sample rate. */
              maxQuietMs: withDefault(int(10, 10 * 60_000), 5000),
              /** A held frame is replayed when a later one arrived with a delay smaller by more than this. */
              lateToleranceMs: withDefault(int(1, 60_000), 100),
              /** A catch-up ends after this long, whatever happens. */
              maxCatchUpMs: withDefault(int(100, HOUR_MS), 30_000),
              /** Frames held at most; reaching it ends the catch-up (4 × the firmware's 2048-frame ring). */
              maxHeld: withDefault(int(16, 1_000_000), 8192),
            },
            [
              {
                ok: (r) => r.maxQuietMs >= r.holdMs,
                path: ['maxQuietMs'],
                message: 'maxQuietMs must be >= holdMs',
              },
              {
                ok: (r) => r.maxCatchUpMs >= r.holdMs,
                path: ['maxCatchUpMs'],
                message: 'maxCatchUpMs must be >= holdMs',
              },
            ],
          ),
          {},
        ),
      }),
      mqtt: object({
        /** Tried in turn, one per connection attempt. */
        urls: array(mqttUrl, 1, 8),
        /** Defaults to the robot id (per-robot credentials). */
        username: optional(string({ min: 1, max: 256 })),
        password: optional(string({ max: 1024 })),
        /** A file holding the password (one line); preferred over `password` in the file. */
        passwordFile: optional(nonEmpty),
        /** Defaults to `fleet-agent-<robotId>`; stable, so the broker keeps the session. */
        clientId: optional(string({ min: 1, max: 128 })),
        /** 4 = MQTT 3.1.1, 5 = MQTT 5.0. */
        protocolVersion: withDefault(oneOf([4, 5] as const), 4),
        keepaliveSeconds: withDefault(int(5, 3600), 30),
        connectTimeoutMs: withDefault(int(100, 120_000), 10_000),
        /** Publishes awaiting PUBACK at once. */
        maxInflight: withDefault(int(1, 1000), 16),
        /** false keeps the subscription to `cmd` at the broker while the robot is offline. */
        cleanSession: withDefault(boolean, false),
        /** MQTT 5 only: how long the broker keeps the session after a disconnect. */
        sessionExpirySeconds: withDefault(int(0, 0xffff_ffff), 86_400),
        tls: withDefault(
          object({
            caFile: optional(nonEmpty),
            certFile: optional(nonEmpty),
            keyFile: optional(nonEmpty),
            rejectUnauthorized: withDefault(boolean, true),
          }),
          {},
        ),
      }),
      batch: withDefault(
        object({
          maxSamples: withDefault(int(1, MAX_BATCH_SAMPLES), 500),
          maxDelayMs: withDefault(int(0, 10 * 60_000), 1000),
        }),
        {},
      ),
      spool: withDefault(
        object({
          dir: withDefault(nonEmpty, '/var/lib/fleet-agent/spool'),
          maxBytes: withDefault(int(64 * 1024, Number.MAX_SAFE_INTEGER), 256 * 1024 * 1024),
          priorityMaxBytes: optional(int(64 * 1024, Number.MAX_SAFE_INTEGER)),
          fsync: withDefault(oneOf(['always', 'interval', 'never'] as const), 'interval'),
          fsyncIntervalMs: withDefault(int(1, 60_000), 1000),
        }),
        {},
      ),
      commands: withDefault(
        object({
          /** How long the firmware has to answer a command before the agent acks `timeout`. */
          timeoutMs: withDefault(int(100, HOUR_MS), 10_000),
        }),
        {},
      ),
      reconnect: withDefault(
        object(
          {
            initialMs: withDefault(int(10, HOUR_MS), 1000),
            maxMs: withDefault(int(10, 24 * HOUR_MS), 60_000),
            /** 1 = full jitter (uniform in [0, backoff]); 0 = none. */
            jitter: withDefault(number(0, 1), 1),
          },
          [{ ok: (r) => r.maxMs >= r.initialMs, path: ['maxMs'], message: 'maxMs must be >= initialMs' }],
        ),
        {},
      ),
      timeSync: withDefault(
        object({
          /** Re-sync period once synced; until then the agent asks every 2 s. */
          intervalMs: withDefault(int(1000, 24 * HOUR_MS), 60_000),
          /** Exchanges remembered; the one with the smallest round-trip delay wins. */
          samples: withDefault(int(1, 64), 8),
          requestTimeoutMs: withDefault(int(100, 60_000), 5000),
        }),
        {},
      ),
      clock: withDefault(
        object(
          {
            /** Robot-clock observations kept for the offset and drift fit. */
            windowMs: withDefault(int(10_000, 24 * HOUR_MS), 600_000),
            bucketMs: withDefault(int(100, 60_000), 5000),
          },
          [
            {
              ok: (c) => c.windowMs >= 2 * c.bucketMs,
              path: ['windowMs'],
              message: 'windowMs must be at least 2 × bucketMs',
            },
          ],
        ),
        {},
      ),
      shutdown: withDefault(
        object({
          /** On SIGTERM, how long to keep publishing the backlog before disconnecting. */
          drainTimeoutMs: withDefault(int(0, 120_000), 5000),
        }),
        {},
      ),
      logLevel: withDefault(oneOf(DIAGNOSTIC_LEVELS), 'info'),
    },
    [
      {
        ok: (c) => c.mqtt.password === undefined || c.mqtt.passwordFile === undefined,
        path: ['mqtt', 'passwordFile'],
        message: 'set either mqtt.password or mqtt.passwordFile, not both',
      },
      {
        ok: (c) => (c.mqtt.tls.certFile === undefined) === (c.mqtt.tls.keyFile === undefined),
        path: (c) => ['mqtt', 'tls', c.mqtt.tls.certFile === undefined ? 'certFile' : 'keyFile'],
        message: 'a client certificate needs both certFile and keyFile',
      },
      {
        ok: (c) => {
          const { certFile, keyFile, caFile } = c.mqtt.tls;
          return (
            c.mqtt.urls.some((u) => u.startsWith('mqtts:')) || (certFile ?? keyFile ?? caFile) === undefined
          );
        },
        path: ['mqtt', 'tls'],
        message: 'TLS files are set but no mqtt.urls entry is mqtts:// (they would be ignored)',
      },
    ],
  );
}

type FileConfig = Exclude<ReturnType<ReturnType<typeof buildFileSchema>>, typeof FAIL>;

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
  const issues: Issue[] = [];
  const result = buildFileSchema()(applied.document, [], issues);
  if (result === FAIL || issues.length > 0) {
    for (const issue of issues) {
      const path = issue.path.map(String).join('.');
      const variable = sourceOf(path, applied.sources);
      const where = path === '' ? '(configuration)' : path;
      problems.push(`${where}${variable === undefined ? '' : ` (from ${variable})`}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || result === FAIL) {
    throw invalid(`invalid agent configuration:\n  - ${problems.join('\n  - ')}`, undefined, problems);
  }
  const c = result;
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
