/**
 * Environment overrides of the configuration file: every `FLEET_AGENT_*` variable sets one field.
 * Values are strings; numbers and lists are converted here, and whatever does not convert is passed
 * on unchanged so that the schema reports it, naming the variable. An unknown `FLEET_AGENT_*`
 * variable is an error (a typo must not silently leave the file's value in force).
 */
export type EnvKind = 'string' | 'int' | 'number' | 'list';

export interface EnvOverride {
  readonly variable: string;
  /** The field it sets, e.g. `['serial', 'baudRate']`. */
  readonly path: readonly string[];
  readonly kind: EnvKind;
}

const o = (variable: string, path: string, kind: EnvKind = 'string'): EnvOverride => ({
  variable: `FLEET_AGENT_${variable}`,
  path: path.split('.'),
  kind,
});

export const ENV_OVERRIDES: readonly EnvOverride[] = [
  o('ROBOT_ID', 'robotId'),
  o('SITE_ID', 'siteId'),
  o('SERIAL_PATH', 'serial.path'),
  o('SERIAL_BAUD', 'serial.baudRate', 'int'),
  o('SERIAL_RESUME_HOLD_MS', 'serial.resume.holdMs', 'int'),
  o('SERIAL_RESUME_MAX_QUIET_MS', 'serial.resume.maxQuietMs', 'int'),
  o('SERIAL_RESUME_LATE_TOLERANCE_MS', 'serial.resume.lateToleranceMs', 'int'),
  o('SERIAL_RESUME_MAX_CATCH_UP_MS', 'serial.resume.maxCatchUpMs', 'int'),
  o('SERIAL_RESUME_MAX_HELD', 'serial.resume.maxHeld', 'int'),
  o('MQTT_URL', 'mqtt.urls', 'list'),
  o('MQTT_USERNAME', 'mqtt.username'),
  o('MQTT_PASSWORD', 'mqtt.password'),
  o('MQTT_PASSWORD_FILE', 'mqtt.passwordFile'),
  o('MQTT_CLIENT_ID', 'mqtt.clientId'),
  o('MQTT_PROTOCOL_VERSION', 'mqtt.protocolVersion', 'int'),
  o('MQTT_MAX_INFLIGHT', 'mqtt.maxInflight', 'int'),
  o('TLS_CA_FILE', 'mqtt.tls.caFile'),
  o('TLS_CERT_FILE', 'mqtt.tls.certFile'),
  o('TLS_KEY_FILE', 'mqtt.tls.keyFile'),
  o('BATCH_MAX_SAMPLES', 'batch.maxSamples', 'int'),
  o('BATCH_MAX_DELAY_MS', 'batch.maxDelayMs', 'int'),
  o('SPOOL_DIR', 'spool.dir'),
  o('SPOOL_MAX_BYTES', 'spool.maxBytes', 'int'),
  o('SPOOL_PRIORITY_MAX_BYTES', 'spool.priorityMaxBytes', 'int'),
  o('SPOOL_FSYNC', 'spool.fsync'),
  o('SPOOL_FSYNC_INTERVAL_MS', 'spool.fsyncIntervalMs', 'int'),
  o('COMMAND_TIMEOUT_MS', 'commands.timeoutMs', 'int'),
  o('RECONNECT_INITIAL_MS', 'reconnect.initialMs', 'int'),
  o('RECONNECT_MAX_MS', 'reconnect.maxMs', 'int'),
  o('RECONNECT_JITTER', 'reconnect.jitter', 'number'),
  o('TIME_SYNC_INTERVAL_MS', 'timeSync.intervalMs', 'int'),
  o('LOG_LEVEL', 'logLevel'),
];

export const ENV_PREFIX = 'FLEET_AGENT_';

export interface AppliedOverrides {
  /** The document with the overrides written in (a copy; the input is not modified). */
  readonly document: unknown;
  /** Dotted field path → the variable that set it, so errors name the variable. */
  readonly sources: ReadonlyMap<string, string>;
  /** `FLEET_AGENT_*` variables that match no field. */
  readonly unknown: readonly string[];
}

export function applyEnvOverrides(
  document: unknown,
  env: Readonly<Record<string, string | undefined>>,
): AppliedOverrides {
  const root: unknown = structuredClone(document);
  const sources = new Map<string, string>();
  const known = new Set(ENV_OVERRIDES.map((e) => e.variable));
  const unknown = Object.keys(env)
    .filter((k) => k.startsWith(ENV_PREFIX) && !known.has(k))
    .sort();
  for (const override of ENV_OVERRIDES) {
    const raw = env[override.variable];
    if (raw === undefined || raw === '') continue;
    if (setPath(root, override.path, convert(raw, override.kind))) {
      sources.set(override.path.join('.'), override.variable);
    }
  }
  return { document: root, sources, unknown };
}

function convert(raw: string, kind: EnvKind): unknown {
  const s = raw.trim();
  switch (kind) {
    case 'string':
      return s;
    case 'int':
      return /^-?\d+$/.test(s) ? Number(s) : s;
    case 'number':
      return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : s;
    case 'list':
      return s
        .split(',')
        .map((p) => p.trim())
        .filter((p) => p !== '');
  }
}

/** Writes `value` at `path`, creating objects on the way; false when a non-object is in the way. */
function setPath(root: unknown, path: readonly string[], value: unknown): boolean {
  if (!isRecord(root)) return false;
  let node: Record<string, unknown> = root;
  for (const [i, key] of path.entries()) {
    if (i === path.length - 1) {
      node[key] = value;
      return true;
    }
    const next = node[key] ?? {};
    if (!isRecord(next)) return false;
    node[key] = next;
    node = next;
  }
  return false;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
