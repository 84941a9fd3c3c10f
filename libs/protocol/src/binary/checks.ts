/**
 * The binary codecs' validation: hand-written checks of exactly the rules the zod schemas of
 * messages.ts state (rules.ts holds the constants both are written from), without zod. The binary
 * path (the robot agent, the gateway's hot path) so never loads or builds a schema. The property
 * test `test/checks.test.ts` proves that these checks and the zod schemas accept and reject the
 * same values, valid and invalid alike.
 *
 * Like zod, a check reports every failing path (not only the first), and returns a new object with
 * the schema's keys in the schema's order. Errors are INVALID_MESSAGE with the format of
 * `issuesError` (validate.ts): `invalid presence: robotId: robot id must match ... (got "r/1")`.
 */
import type { Message, MessageKind } from '../messages.js';
import {
  ACK_OUTCOMES,
  ACK_SOURCES,
  COMMAND_ACTION_TYPES,
  I16_MAX,
  I16_MIN,
  I32_MAX,
  I32_MIN,
  ID_PATTERN,
  ID_RULE,
  MAX_ACK_DETAIL_LENGTH,
  MAX_EPOCH_MS,
  MAX_FAULT_MESSAGE_LENGTH,
  MAX_FIRMWARE_VERSION_LENGTH,
  MAX_HEADING_CDEG,
  MAX_MODEL_LENGTH,
  MAX_SOC_PERMILLE,
  MAX_ZONE_NAME_LENGTH,
  MAX_ZONES,
  MESSAGE_KINDS,
  PRESENCE_REASONS,
  RESET_REASONS,
  ROBOT_EVENT_TYPES,
  ROBOT_MODES,
  U16,
  U32,
  U8,
} from '../rules.js';
import { formatPath, issuesErrorFromSummary, type IssueSummary } from './validate.js';

type Path = readonly (string | number)[];
type Fields = Record<string, unknown>;

/** Collects the issues of one value; each `field` check returns the value it checked. */
class Checker {
  readonly issues: IssueSummary[] = [];

  fail(path: Path, message: string): void {
    this.issues.push({ path: formatPath(path), message });
  }

  /**
   * `value` as a strict object with exactly `keys` (those in `optional` may be absent), or
   * undefined after reporting why not.
   */
  object(
    value: unknown,
    path: Path,
    keys: readonly string[],
    optional: readonly string[] = [],
  ): Fields | undefined {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.fail(path, `expected an object, got ${describe(value)}`);
      return undefined;
    }
    const fields = value as Fields;
    for (const key of Object.keys(fields)) {
      if (!keys.includes(key) && !optional.includes(key))
        this.fail(path, `unknown key ${JSON.stringify(key)}`);
    }
    return fields;
  }

  int(fields: Fields, key: string, path: Path, min: number, max: number): number {
    const v = fields[key];
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.fail([...path, key], `expected an integer in [${min}, ${max}], got ${describe(v)}`);
    } else if (v < min || v > max) {
      this.fail([...path, key], `${v} is out of range [${min}, ${max}]`);
    }
    return v as number;
  }

  id(fields: Fields, key: string, path: Path, label: string): string {
    const v = fields[key];
    if (typeof v !== 'string')
      this.fail([...path, key], `expected a ${label} id (string), got ${describe(v)}`);
    else if (!ID_PATTERN.test(v)) this.fail([...path, key], `${label} id ${ID_RULE} (got ${describe(v)})`);
    return v as string;
  }

  text(fields: Fields, key: string, path: Path, min: number, max: number): string {
    const v = fields[key];
    if (typeof v !== 'string') {
      this.fail([...path, key], `expected a string of ${min}..${max} characters, got ${describe(v)}`);
    } else if (v.length < min || v.length > max) {
      this.fail([...path, key], `string of ${v.length} characters is outside ${min}..${max}`);
    }
    return v as string;
  }

  /** Present (and checked) only when the key is present with a value other than undefined. */
  optionalText(fields: Fields, key: string, path: Path, max: number): string | undefined {
    return fields[key] === undefined ? undefined : this.text(fields, key, path, 0, max);
  }

  oneOf<T extends string>(fields: Fields, key: string, path: Path, values: readonly T[]): T {
    const v = fields[key];
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
      this.fail(
        [...path, key],
        `expected one of ${values.map((s) => JSON.stringify(s)).join(' | ')}, got ${describe(v)}`,
      );
    }
    return v as T;
  }

  bool(fields: Fields, key: string, path: Path): boolean {
    const v = fields[key];
    if (typeof v !== 'boolean') this.fail([...path, key], `expected a boolean, got ${describe(v)}`);
    return v as boolean;
  }

  epochMs(fields: Fields, key: string, path: Path): number {
    return this.int(fields, key, path, 0, MAX_EPOCH_MS);
  }
}

/** A value as an error message shows it: JSON where possible, cut at 40 characters. */
function describe(v: unknown): string {
  if (v === undefined) return 'undefined (missing)';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'function' || typeof v === 'symbol') return typeof v;
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = Object.prototype.toString.call(v);
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

type CheckOf = (c: Checker, f: Fields) => Message;

const ROOT: Path = [];

/** One check per kind, building its output in schema key order; the mapped type covers every kind. */
const CHECKS: {
  readonly [K in MessageKind]: readonly [
    keys: readonly string[],
    optional: readonly string[],
    check: CheckOf,
  ];
} = {
  telemetry: [
    [
      'kind',
      'robotId',
      'bootId',
      'seq',
      'eventTime',
      'voltageMv',
      'currentMa',
      'socPermille',
      'batteryTempDeciC',
      'cycleCount',
      'siteId',
      'xMm',
      'yMm',
      'headingCdeg',
      'speedMmS',
      'dirtLevel',
      'mode',
      'errorFlags',
    ],
    [],
    (c, f) => ({
      kind: 'telemetry',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      bootId: c.int(f, 'bootId', ROOT, 0, U32),
      seq: c.int(f, 'seq', ROOT, 0, U32),
      eventTime: c.epochMs(f, 'eventTime', ROOT),
      voltageMv: c.int(f, 'voltageMv', ROOT, 0, U16),
      currentMa: c.int(f, 'currentMa', ROOT, I32_MIN, I32_MAX),
      socPermille: c.int(f, 'socPermille', ROOT, 0, MAX_SOC_PERMILLE),
      batteryTempDeciC: c.int(f, 'batteryTempDeciC', ROOT, I16_MIN, I16_MAX),
      cycleCount: c.int(f, 'cycleCount', ROOT, 0, U16),
      siteId: c.id(f, 'siteId', ROOT, 'site'),
      xMm: c.int(f, 'xMm', ROOT, I32_MIN, I32_MAX),
      yMm: c.int(f, 'yMm', ROOT, I32_MIN, I32_MAX),
      headingCdeg: c.int(f, 'headingCdeg', ROOT, 0, MAX_HEADING_CDEG),
      speedMmS: c.int(f, 'speedMmS', ROOT, I16_MIN, I16_MAX),
      dirtLevel: c.int(f, 'dirtLevel', ROOT, 0, U8),
      mode: c.oneOf(f, 'mode', ROOT, ROBOT_MODES),
      errorFlags: c.int(f, 'errorFlags', ROOT, 0, U32),
    }),
  ],
  command: [
    ['kind', 'commandId', 'robotId', 'action', 'issuedAt', 'deadline'],
    [],
    (c, f) => {
      const command = {
        kind: 'command' as const,
        commandId: c.id(f, 'commandId', ROOT, 'command'),
        robotId: c.id(f, 'robotId', ROOT, 'robot'),
        action: checkAction(c, f['action'], ['action']),
        issuedAt: c.epochMs(f, 'issuedAt', ROOT),
        deadline: c.epochMs(f, 'deadline', ROOT),
      };
      if (c.issues.length === 0 && command.deadline < command.issuedAt) {
        c.fail(
          ['deadline'],
          `deadline must not be before issuedAt (${command.deadline} < ${command.issuedAt})`,
        );
      }
      return command;
    },
  ],
  command_ack: [
    ['kind', 'commandId', 'robotId', 'outcome', 'source', 'robotTime'],
    ['detail'],
    (c, f) => {
      const ack = {
        kind: 'command_ack' as const,
        commandId: c.id(f, 'commandId', ROOT, 'command'),
        robotId: c.id(f, 'robotId', ROOT, 'robot'),
        outcome: c.oneOf(f, 'outcome', ROOT, ACK_OUTCOMES),
        source: c.oneOf(f, 'source', ROOT, ACK_SOURCES),
        robotTime: c.epochMs(f, 'robotTime', ROOT),
      };
      const detail = c.optionalText(f, 'detail', ROOT, MAX_ACK_DETAIL_LENGTH);
      return detail === undefined ? ack : { ...ack, detail };
    },
  ],
  robot_event: [
    ['kind', 'robotId', 'bootId', 'seq', 'eventTime', 'event'],
    [],
    (c, f) => ({
      kind: 'robot_event',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      bootId: c.int(f, 'bootId', ROOT, 0, U32),
      seq: c.int(f, 'seq', ROOT, 0, U32),
      eventTime: c.epochMs(f, 'eventTime', ROOT),
      event: checkEventBody(c, f['event'], ['event']),
    }),
  ],
  presence: [
    ['kind', 'robotId', 'online', 'reason', 'at'],
    [],
    (c, f) => ({
      kind: 'presence',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      online: c.bool(f, 'online', ROOT),
      reason: c.oneOf(f, 'reason', ROOT, PRESENCE_REASONS),
      at: c.epochMs(f, 'at', ROOT),
    }),
  ],
  robot_metadata: [
    ['kind', 'robotId', 'model', 'siteId', 'zones', 'nominalCapacityMah', 'updatedAt'],
    [],
    (c, f) => ({
      kind: 'robot_metadata',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      model: c.text(f, 'model', ROOT, 1, MAX_MODEL_LENGTH),
      siteId: c.id(f, 'siteId', ROOT, 'site'),
      zones: checkZones(c, f['zones']),
      nominalCapacityMah: c.int(f, 'nominalCapacityMah', ROOT, 1, U32),
      updatedAt: c.epochMs(f, 'updatedAt', ROOT),
    }),
  ],
  time_sync_request: [
    ['kind', 'robotId', 'requestId', 'agentSendTime'],
    [],
    (c, f) => ({
      kind: 'time_sync_request',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      requestId: c.int(f, 'requestId', ROOT, 0, U32),
      agentSendTime: c.epochMs(f, 'agentSendTime', ROOT),
    }),
  ],
  time_sync_response: [
    ['kind', 'robotId', 'requestId', 'agentSendTime', 'gatewayReceiveTime', 'gatewaySendTime'],
    [],
    (c, f) => ({
      kind: 'time_sync_response',
      robotId: c.id(f, 'robotId', ROOT, 'robot'),
      requestId: c.int(f, 'requestId', ROOT, 0, U32),
      agentSendTime: c.epochMs(f, 'agentSendTime', ROOT),
      gatewayReceiveTime: c.epochMs(f, 'gatewayReceiveTime', ROOT),
      gatewaySendTime: c.epochMs(f, 'gatewaySendTime', ROOT),
    }),
  ],
};

type Action = Extract<Message, { kind: 'command' }>['action'];
type EventBody = Extract<Message, { kind: 'robot_event' }>['event'];
type Zone = Extract<Message, { kind: 'robot_metadata' }>['zones'][number];

function checkAction(c: Checker, value: unknown, path: Path): Action {
  const type = discriminator(c, value, path, 'type', COMMAND_ACTION_TYPES);
  if (type === undefined) return value as Action;
  if (type !== 'go_to_zone') {
    c.object(value, path, ['type']);
    return { type };
  }
  const f = c.object(value, path, ['type', 'zoneId']) ?? {};
  return { type, zoneId: c.id(f, 'zoneId', path, 'zone') };
}

function checkEventBody(c: Checker, value: unknown, path: Path): EventBody {
  const type = discriminator(c, value, path, 'type', ROBOT_EVENT_TYPES);
  switch (type) {
    case undefined:
      return value as EventBody;
    case 'boot': {
      const f = c.object(value, path, ['type', 'firmwareVersion', 'resetReason']) ?? {};
      return {
        type,
        firmwareVersion: c.text(f, 'firmwareVersion', path, 1, MAX_FIRMWARE_VERSION_LENGTH),
        resetReason: c.oneOf(f, 'resetReason', path, RESET_REASONS),
      };
    }
    case 'fault_raised': {
      const f = c.object(value, path, ['type', 'code'], ['message']) ?? {};
      const code = c.int(f, 'code', path, 0, U16);
      const message = c.optionalText(f, 'message', path, MAX_FAULT_MESSAGE_LENGTH);
      return message === undefined ? { type, code } : { type, code, message };
    }
    case 'fault_cleared': {
      const f = c.object(value, path, ['type', 'code']) ?? {};
      return { type, code: c.int(f, 'code', path, 0, U16) };
    }
  }
}

function checkZones(c: Checker, value: unknown): Zone[] {
  if (!Array.isArray(value)) {
    c.fail(['zones'], `expected an array of at most ${MAX_ZONES} zones, got ${describe(value)}`);
    return [];
  }
  if (value.length > MAX_ZONES) c.fail(['zones'], `${value.length} zones exceed the limit of ${MAX_ZONES}`);
  return value.map((zone: unknown, i) => {
    const path = ['zones', i];
    const before = c.issues.length;
    const f = c.object(zone, path, ['zoneId', 'name', 'minXMm', 'minYMm', 'maxXMm', 'maxYMm']) ?? {};
    const z = {
      zoneId: c.id(f, 'zoneId', path, 'zone'),
      name: c.text(f, 'name', path, 1, MAX_ZONE_NAME_LENGTH),
      minXMm: c.int(f, 'minXMm', path, I32_MIN, I32_MAX),
      minYMm: c.int(f, 'minYMm', path, I32_MIN, I32_MAX),
      maxXMm: c.int(f, 'maxXMm', path, I32_MIN, I32_MAX),
      maxYMm: c.int(f, 'maxYMm', path, I32_MIN, I32_MAX),
    };
    if (c.issues.length === before && !(z.maxXMm > z.minXMm && z.maxYMm > z.minYMm)) {
      c.fail(path, `zone must have positive area (x ${z.minXMm}..${z.maxXMm}, y ${z.minYMm}..${z.maxYMm})`);
    }
    return z;
  });
}

/** The discriminator of a union member, or undefined after reporting why there is none. */
function discriminator<T extends string>(
  c: Checker,
  value: unknown,
  path: Path,
  key: string,
  values: readonly T[],
): T | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    c.fail(path, `expected an object, got ${describe(value)}`);
    return undefined;
  }
  const v = (value as Fields)[key];
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    c.fail(
      [...path, key],
      `expected one of ${values.map((s) => JSON.stringify(s)).join(' | ')}, got ${describe(v)}`,
    );
    return undefined;
  }
  return v as T;
}

/**
 * `value` checked against the schema of its kind (`messageSchema`), or INVALID_MESSAGE naming each
 * failing path. `context` starts the error message (`invalid <context>: ...`).
 */
export function checkMessage(value: unknown, context: string): Message {
  const c = new Checker();
  const kind = discriminator(c, value, ROOT, 'kind', MESSAGE_KINDS);
  if (kind === undefined) throw issuesErrorFromSummary(context, c.issues);
  const [keys, optional, check] = CHECKS[kind];
  const fields = c.object(value, ROOT, keys, optional) ?? {};
  const message = check(c, fields);
  if (c.issues.length > 0) throw issuesErrorFromSummary(context, c.issues);
  return message;
}
