/**
 * Command handling with a simulated clock: validation and rejection (counted by reason), the
 * deadline translated to the robot's clock, tracking until the firmware answers, and the agent's
 * own `timeout` ack when it does not.
 */
import {
  decodeSerialFrame,
  encodeJson,
  encodeMessage,
  type Command,
  type CommandAck,
  type SerialCommandFrame,
} from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { CommandHandler } from '../src/commands/handler.js';
import { PendingCommands } from '../src/commands/pending.js';
import { ManualClock, settle } from './support/manual-clock.js';

const ROBOT_AHEAD_MS = 120_000; // the robot's clock
const GATEWAY_AHEAD_MS = 5_000; // the gateway's clock, both relative to the agent's

function setup(options: { timeoutMs?: number; failWrites?: boolean } = {}) {
  const clock = new ManualClock();
  const written: SerialCommandFrame[] = [];
  const acks: CommandAck[] = [];
  const handler = new CommandHandler({
    robotId: 'r-1',
    clock,
    timeoutMs: options.timeoutMs ?? 10_000,
    stamper: {
      eventTime: (robotTime) => robotTime - ROBOT_AHEAD_MS + GATEWAY_AHEAD_MS,
      robotTimeOf: (gatewayTime) => gatewayTime - GATEWAY_AHEAD_MS + ROBOT_AHEAD_MS,
      gatewayTimeOf: (agentTime) => agentTime + GATEWAY_AHEAD_MS,
    },
    serial: {
      write: async (bytes) => {
        if (options.failWrites === true) throw new Error('serial device /dev/ttyS1 is not open');
        const frame = decodeSerialFrame(bytes);
        if (frame.type !== 'command') throw new Error(`unexpected ${frame.type}`);
        written.push(frame);
      },
    },
    emitAck: (ack) => acks.push(ack),
  });
  const command = (overrides: Partial<Command> = {}): Command => ({
    kind: 'command',
    commandId: 'cmd-1',
    robotId: 'r-1',
    action: { type: 'go_to_dock' },
    issuedAt: clock.now() + GATEWAY_AHEAD_MS,
    deadline: clock.now() + GATEWAY_AHEAD_MS + 60_000,
    ...overrides,
  });
  return { clock, handler, written, acks, command };
}

describe('PendingCommands', () => {
  it('fires each timeout once, unless the command was answered first', () => {
    const clock = new ManualClock();
    const pending = new PendingCommands(clock);
    const fired: string[] = [];
    expect(pending.add('a', 1000, () => fired.push('a'))).toBe(true);
    expect(pending.add('a', 1000, () => fired.push('a again'))).toBe(false);
    pending.add('b', 2000, () => fired.push('b'));
    clock.advance(500);
    expect(pending.resolve('a')).toBe(true);
    clock.advance(5000);
    expect(fired).toEqual(['b']);
    expect(pending.resolve('b')).toBe(false);
    expect(pending.size).toBe(0);
  });

  it('clear() cancels every timer without firing', () => {
    const clock = new ManualClock();
    const pending = new PendingCommands(clock);
    const fired: string[] = [];
    pending.add('a', 1000, () => fired.push('a'));
    pending.clear();
    clock.advance(2000);
    expect(fired).toEqual([]);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe('CommandHandler', () => {
  it('forwards a valid command with its deadline on the robot clock, and tracks it until the firmware acks', async () => {
    const { clock, handler, written, acks, command } = setup();
    const c = command({ action: { type: 'go_to_zone', zoneId: 'kitchen' } });
    await handler.handleMessage(encodeMessage(c));
    expect(written).toEqual([
      {
        type: 'command',
        commandId: 'cmd-1',
        action: { type: 'go_to_zone', zoneId: 'kitchen' },
        deadlineRobotTime: c.deadline - GATEWAY_AHEAD_MS + ROBOT_AHEAD_MS,
      },
    ]);
    expect(handler.pendingCount).toBe(1);
    const robotNow = clock.now() + ROBOT_AHEAD_MS;
    handler.handleFirmwareAck({ type: 'ack', commandId: 'cmd-1', outcome: 'accepted', robotTime: robotNow });
    handler.handleFirmwareAck({
      type: 'ack',
      commandId: 'cmd-1',
      outcome: 'completed',
      robotTime: robotNow + 10,
      detail: 'docked',
    });
    clock.advance(60_000);
    expect(acks).toEqual([
      {
        kind: 'command_ack',
        commandId: 'cmd-1',
        robotId: 'r-1',
        outcome: 'accepted',
        source: 'firmware',
        robotTime: clock.now() - 60_000 + GATEWAY_AHEAD_MS,
      },
      {
        kind: 'command_ack',
        commandId: 'cmd-1',
        robotId: 'r-1',
        outcome: 'completed',
        source: 'firmware',
        robotTime: clock.now() - 60_000 + 10 + GATEWAY_AHEAD_MS,
        detail: 'docked',
      },
    ]);
    expect(handler.stats()).toMatchObject({ forwarded: 1, firmwareAcks: 2, timeouts: 0, pending: 0 });
  });

  it('acks `timeout` (source agent) when the firmware does not answer within timeoutMs', async () => {
    const { clock, handler, acks, command } = setup({ timeoutMs: 3000 });
    await handler.handleMessage(encodeMessage(command()));
    clock.advance(2999);
    expect(acks).toEqual([]);
    clock.advance(1);
    expect(acks).toEqual([
      {
        kind: 'command_ack',
        commandId: 'cmd-1',
        robotId: 'r-1',
        outcome: 'timeout',
        source: 'agent',
        robotTime: clock.now() + GATEWAY_AHEAD_MS,
        detail: 'no answer from the firmware within 3000 ms',
      },
    ]);
    // A late firmware ack is still forwarded: the firmware's word is the truth.
    handler.handleFirmwareAck({
      type: 'ack',
      commandId: 'cmd-1',
      outcome: 'completed',
      robotTime: clock.now() + ROBOT_AHEAD_MS,
    });
    expect(acks.map((a) => [a.outcome, a.source])).toEqual([
      ['timeout', 'agent'],
      ['completed', 'firmware'],
    ]);
    expect(handler.stats()).toMatchObject({ timeouts: 1, unsolicitedAcks: 0 });
  });

  it('times out at the deadline when that comes before timeoutMs', async () => {
    const { clock, handler, acks, command } = setup({ timeoutMs: 10_000 });
    await handler.handleMessage(encodeMessage(command({ deadline: clock.now() + GATEWAY_AHEAD_MS + 1500 })));
    clock.advance(1500);
    expect(acks.map((a) => a.outcome)).toEqual(['timeout']);
  });

  it('does not forward a command whose deadline has passed, and acks timeout at once', async () => {
    const { clock, handler, written, acks, command } = setup();
    await handler.handleMessage(
      encodeMessage(command({ issuedAt: clock.now(), deadline: clock.now() + GATEWAY_AHEAD_MS - 1 })),
    );
    expect(written).toEqual([]);
    expect(acks).toMatchObject([
      { outcome: 'timeout', source: 'agent', detail: 'deadline passed before the command reached the robot' },
    ]);
    expect(handler.stats().expired).toBe(1);
  });

  it('does not forward a redelivered command twice', async () => {
    const { handler, written, command } = setup();
    await handler.handleMessage(encodeMessage(command()));
    await handler.handleMessage(encodeMessage(command()));
    expect(written).toHaveLength(1);
    expect(handler.stats().duplicates).toBe(1);
  });

  it('rejects and counts: garbage, a message that is not a command, a command for another robot', async () => {
    const { handler, written, acks, command, clock } = setup();
    await handler.handleMessage(new Uint8Array([0xfb, 1, 0x11, 9, 9]));
    await handler.handleMessage(new TextEncoder().encode('{"kind":"command"'));
    await handler.handleMessage(
      encodeMessage({ kind: 'presence', robotId: 'r-1', online: true, reason: 'connected', at: clock.now() }),
    );
    await handler.handleMessage(encodeMessage(command({ robotId: 'r-2' })));
    expect(written).toEqual([]);
    expect(acks).toEqual([]);
    expect(handler.stats().rejected).toEqual({ undecodable: 2, not_a_command: 1, other_robot: 1 });
  });

  it('accepts a JSON command (debugging with mosquitto_pub)', async () => {
    const { handler, written, command } = setup();
    await handler.handleMessage(encodeJson(command({ commandId: 'json-1' })));
    expect(written.map((f) => f.commandId)).toEqual(['json-1']);
  });

  it('acks `failed` (source agent) when the serial line cannot take the command', async () => {
    const { handler, acks, command, clock } = setup({ failWrites: true });
    await handler.handleMessage(encodeMessage(command()));
    await settle();
    clock.advance(60_000);
    expect(acks).toMatchObject([
      { outcome: 'failed', source: 'agent', detail: 'serial: serial device /dev/ttyS1 is not open' },
    ]);
    expect(handler.pendingCount).toBe(0);
  });

  it('counts an ack for a command it never saw, and forwards it', () => {
    const { handler, acks, clock } = setup();
    handler.handleFirmwareAck({
      type: 'ack',
      commandId: 'old',
      outcome: 'completed',
      robotTime: clock.now() + ROBOT_AHEAD_MS,
    });
    expect(acks).toHaveLength(1);
    expect(handler.stats().unsolicitedAcks).toBe(1);
  });

  it('drops an ack the firmware replays (same command, outcome and robot time) and settles it, forwards a new outcome', () => {
    const { handler, acks, clock } = setup();
    const robotTime = clock.now() + ROBOT_AHEAD_MS;
    const settled: string[] = [];
    handler.handleFirmwareAck({ type: 'ack', commandId: 'c', outcome: 'accepted', robotTime }, () =>
      settled.push('first'),
    );
    handler.handleFirmwareAck({ type: 'ack', commandId: 'c', outcome: 'accepted', robotTime }, () =>
      settled.push('replay'),
    );
    handler.handleFirmwareAck({
      type: 'ack',
      commandId: 'c',
      outcome: 'completed',
      robotTime: robotTime + 5,
    });
    expect(acks.map((a) => [a.commandId, a.outcome, a.source])).toEqual([
      ['c', 'accepted', 'firmware'],
      ['c', 'completed', 'firmware'],
    ]);
    expect(settled).toEqual(['replay']); // the first settles when the spool has it (the agent's emitAck)
    expect(handler.stats()).toMatchObject({ firmwareAcks: 2, duplicateAcks: 1 });
  });
});
