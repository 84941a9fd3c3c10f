/**
 * Commands from the cloud to the firmware, and the acks back.
 *
 * A message on the robot's own `cmd` topic is decoded (binary, or JSON for debugging) and checked:
 * it must be one `command` addressed to this robot. Anything else is rejected: reported
 * (`command_rejected` with the reason) and counted by reason; there is no command id to ack.
 * A command id seen recently is a QoS 1 redelivery and is not forwarded twice.
 *
 * A valid command whose deadline (cloud clock) has already passed is not forwarded; the agent acks
 * `timeout` at once. Otherwise the deadline is translated to the robot's clock (gateway → agent →
 * robot, the inverse of event-time stamping), the command goes down the serial line as a
 * `command` frame, and it waits for the firmware's first ack at most `timeoutMs` or until the
 * deadline, whichever is sooner; then the agent publishes its own ack, outcome `timeout`, source
 * `agent`. Firmware acks are forwarded as `command_ack` with source `firmware` and their robotTime
 * corrected like a sample's, also those that come late or for commands this process did not send.
 */
import {
  decodePayload,
  encodeSerialFrame,
  type Command,
  type CommandAck,
  type DecodedPayload,
  type SerialAckFrame,
} from '@fleet/protocol';
import type { Clock } from '../clock/clock.js';
import type { EventTimeStamper } from '../clock/event-time.js';
import { emit } from '../diagnostics.js';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';
import { PendingCommands } from './pending.js';

export const COMMAND_REJECT_REASONS = ['undecodable', 'not_a_command', 'other_robot'] as const;
export type CommandRejectReason = (typeof COMMAND_REJECT_REASONS)[number];

export interface CommandHandlerOptions {
  readonly robotId: string;
  readonly clock: Clock;
  readonly stamper: Pick<EventTimeStamper, 'eventTime' | 'robotTimeOf' | 'gatewayTimeOf'>;
  readonly serial: { write(bytes: Uint8Array): Promise<void> };
  /** Spools the ack (class priority) for the publisher; `settled` once it is in the spool. */
  emitAck(ack: CommandAck, settled?: () => void): void;
  readonly timeoutMs: number;
  /** Command ids remembered to recognise redeliveries; default 1024. */
  readonly rememberIds?: number;
}

export class CommandHandler {
  private readonly pending: PendingCommands;
  private readonly seen = new Set<string>();
  /** Firmware acks forwarded recently, by commandId, outcome and robotTime: a replay repeats all three. */
  private readonly forwardedAcks = new Set<string>();
  private readonly rejected: Record<CommandRejectReason, number> = {
    undecodable: 0,
    not_a_command: 0,
    other_robot: 0,
  };
  private readonly counts = {
    received: 0,
    forwarded: 0,
    duplicates: 0,
    expired: 0,
    timeouts: 0,
    writeFailures: 0,
    firmwareAcks: 0,
    unsolicitedAcks: 0,
    duplicateAcks: 0,
  };

  constructor(private readonly options: CommandHandlerOptions) {
    this.pending = new PendingCommands(options.clock);
  }

  /** A message on the `cmd` topic. Resolves once it was forwarded, rejected or answered. */
  async handleMessage(payload: Uint8Array): Promise<void> {
    const command = this.validate(payload);
    if (command === undefined) return;
    this.counts.received++;
    if (this.seen.has(command.commandId)) {
      this.counts.duplicates++;
      emit('commands', 'info', 'command_duplicate', { commandId: command.commandId });
      return;
    }
    this.remember(command.commandId);
    const { clock, stamper } = this.options;
    const gatewayNow = stamper.gatewayTimeOf(clock.now());
    const untilDeadline = command.deadline - gatewayNow;
    if (untilDeadline <= 0) {
      this.counts.expired++;
      this.agentAck(command, 'deadline passed before the command reached the robot');
      return;
    }
    const waitMs = Math.min(this.options.timeoutMs, untilDeadline);
    const frame = encodeSerialFrame(
      {
        type: 'command',
        commandId: command.commandId,
        action: command.action,
        deadlineRobotTime: stamper.robotTimeOf(command.deadline),
      },
      { leadingDelimiter: true },
    );
    this.pending.add(command.commandId, waitMs, () => {
      this.counts.timeouts++;
      this.agentAck(command, `no answer from the firmware within ${waitMs} ms`);
    });
    try {
      await this.options.serial.write(frame);
    } catch (e) {
      this.pending.resolve(command.commandId);
      this.counts.writeFailures++;
      emit('commands', 'warn', 'command_write_failed', {
        commandId: command.commandId,
        error: errorMessage(e),
      });
      this.ack(
        command.commandId,
        'failed',
        'agent',
        stamper.gatewayTimeOf(clock.now()),
        truncate(`serial: ${errorMessage(e)}`),
      );
      return;
    }
    this.counts.forwarded++;
    emit('commands', 'info', 'command_forwarded', {
      commandId: command.commandId,
      action: command.action.type,
      waitMs,
    });
  }

  /**
   * An ack frame from the firmware; `settled` (the durable position's) once it is spooled. The
   * firmware re-sends acks on a resume (replay ring), so one byte-identical to an ack forwarded
   * recently is a replay: dropped and counted. After a restart the agent remembers none; such a
   * replay goes on as a duplicate, which QoS 1 allows anyway.
   */
  handleFirmwareAck(frame: SerialAckFrame, settled?: () => void): void {
    const key = `${frame.commandId}\u0000${frame.outcome}\u0000${frame.robotTime}`;
    if (this.forwardedAcks.has(key)) {
      this.counts.duplicateAcks++;
      settled?.();
      return;
    }
    remember(this.forwardedAcks, key, this.options.rememberIds ?? 1024);
    this.counts.firmwareAcks++;
    const answered = this.pending.resolve(frame.commandId);
    if (!answered && !this.seen.has(frame.commandId)) this.counts.unsolicitedAcks++;
    emit('commands', 'info', 'command_ack', {
      commandId: frame.commandId,
      outcome: frame.outcome,
      answered,
    });
    this.ack(
      frame.commandId,
      frame.outcome,
      'firmware',
      this.options.stamper.eventTime(frame.robotTime),
      frame.detail,
      settled,
    );
  }

  /** Commands waiting for the firmware. */
  get pendingCount(): number {
    return this.pending.size;
  }

  stop(): void {
    this.pending.clear();
  }

  stats() {
    return { ...this.counts, rejected: { ...this.rejected }, pending: this.pending.size };
  }

  private validate(payload: Uint8Array): Command | undefined {
    let decoded: DecodedPayload;
    try {
      decoded = decodePayload(payload);
    } catch (e) {
      return this.reject('undecodable', errorMessage(e));
    }
    if (decoded.type !== 'message' || decoded.message.kind !== 'command') {
      const what = decoded.type === 'message' ? decoded.message.kind : decoded.type;
      return this.reject('not_a_command', `expected a command, got ${what}`);
    }
    const command = decoded.message;
    if (command.robotId !== this.options.robotId) {
      return this.reject(
        'other_robot',
        `command ${command.commandId} is addressed to robot ${command.robotId}, this is ${this.options.robotId}`,
        command.commandId,
      );
    }
    return command;
  }

  private reject(reason: CommandRejectReason, message: string, commandId?: string): undefined {
    this.rejected[reason]++;
    const error = new AgentError(AgentErrorCode.COMMAND_REJECTED, message, { reason, commandId });
    emit('commands', 'warn', 'command_rejected', {
      reason,
      commandId,
      code: error.code,
      error: error.message,
    });
    return undefined;
  }

  private agentAck(command: Command, detail: string): void {
    emit('commands', 'warn', 'command_timeout', { commandId: command.commandId, detail });
    this.ack(
      command.commandId,
      'timeout',
      'agent',
      this.options.stamper.gatewayTimeOf(this.options.clock.now()),
      detail,
    );
  }

  private ack(
    commandId: string,
    outcome: CommandAck['outcome'],
    source: CommandAck['source'],
    robotTime: number,
    detail: string | undefined,
    settled?: () => void,
  ): void {
    const ack: CommandAck = {
      kind: 'command_ack',
      commandId,
      robotId: this.options.robotId,
      outcome,
      source,
      robotTime,
    };
    if (detail !== undefined) ack.detail = truncate(detail);
    this.options.emitAck(ack, settled);
  }

  private remember(commandId: string): void {
    remember(this.seen, commandId, this.options.rememberIds ?? 1024);
  }
}

/** Adds `key`, forgetting the oldest beyond `max`. */
function remember(set: Set<string>, key: string, max: number): void {
  set.add(key);
  if (set.size > max) {
    const oldest = set.values().next().value;
    if (oldest !== undefined) set.delete(oldest);
  }
}

function truncate(s: string): string {
  return s.length <= 200 ? s : `${s.slice(0, 197)}...`;
}
