/**
 * Wire codes for every enumeration in messages.ts. They are part of the binary format: a code, once
 * released, keeps its meaning forever. They are written out here rather than derived from the order
 * of the arrays in messages.ts, so reordering or extending those arrays cannot silently change what
 * an old robot's byte means. Each table is a `Record` over the union, so adding a value to
 * messages.ts fails to compile until it gets a code here.
 */
import type {
  AckOutcome,
  ACK_SOURCES,
  CommandAction,
  MessageKind,
  PRESENCE_REASONS,
  RESET_REASONS,
  RobotEventBody,
  RobotMode,
} from '../messages.js';
import { invalidValue } from './wire.js';

export class CodeTable<T extends string> {
  /** Name for each code, `undefined` where no name has that code. */
  readonly names: readonly (T | undefined)[];
  private readonly codes: ReadonlyMap<string, number>;

  constructor(
    readonly field: string,
    table: Readonly<Record<T, number>>,
  ) {
    const names: (T | undefined)[] = [];
    const codes = new Map<string, number>();
    for (const [name, code] of Object.entries(table) as [T, number][]) {
      if (names[code] !== undefined) throw new Error(`${field}: code ${code} assigned twice`);
      names[code] = name;
      codes.set(name, code);
    }
    this.names = names;
    this.codes = codes;
  }

  /** The code of `name`, or `undefined` for a value outside the table (for callers that name the field). */
  lookup(name: string): number | undefined {
    return this.codes.get(name);
  }

  encode(name: T, field: string = this.field): number {
    const code = this.codes.get(name);
    if (code === undefined) throw invalidValue(field, `unknown value ${JSON.stringify(name)}`);
    return code;
  }

  decode(code: number, field: string = this.field): T {
    const name = this.names[code];
    if (name === undefined) throw invalidValue(field, `unknown code ${code}`, { code });
    return name;
  }

  has(code: number): boolean {
    return this.names[code] !== undefined;
  }
}

/** Record-type byte (envelope byte 2) of each single-message kind; 0x01 is the telemetry batch. */
export const messageTypeCodes = new CodeTable<MessageKind>('record type', {
  telemetry: 0x10,
  command: 0x11,
  command_ack: 0x12,
  robot_event: 0x13,
  presence: 0x14,
  robot_metadata: 0x15,
  time_sync_request: 0x16,
  time_sync_response: 0x17,
});

export const robotModeCodes = new CodeTable<RobotMode>('mode', {
  idle: 0,
  cleaning: 1,
  moving: 2,
  docking: 3,
  charging: 4,
  error: 5,
});

export const commandActionCodes = new CodeTable<CommandAction['type']>('action.type', {
  start_cleaning: 0,
  stop: 1,
  go_to_dock: 2,
  go_to_zone: 3,
});

export const ackOutcomeCodes = new CodeTable<AckOutcome>('outcome', {
  accepted: 0,
  completed: 1,
  rejected: 2,
  failed: 3,
  timeout: 4,
});

export const ackSourceCodes = new CodeTable<(typeof ACK_SOURCES)[number]>('source', {
  firmware: 0,
  agent: 1,
});

export const robotEventTypeCodes = new CodeTable<RobotEventBody['type']>('event.type', {
  boot: 0,
  fault_raised: 1,
  fault_cleared: 2,
});

export const resetReasonCodes = new CodeTable<(typeof RESET_REASONS)[number]>('event.resetReason', {
  power_on: 0,
  watchdog: 1,
  brownout: 2,
  software: 3,
  unknown: 4,
});

export const presenceReasonCodes = new CodeTable<(typeof PRESENCE_REASONS)[number]>('reason', {
  connected: 0,
  disconnected: 1,
  last_will: 2,
});
