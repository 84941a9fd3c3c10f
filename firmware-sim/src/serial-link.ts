/**
 * One robot's serial line: frames out to the agent, command frames in.
 *
 * Out: every frame is COBS-encoded with a leading 00 (so line noise before it costs only a corrupt
 * run at the agent, never the frame) and written to the port. The port's write buffer is the
 * firmware's transmit buffer: when it is full (`write` returned false, no `drain` yet) a link in
 * `drop` mode drops the frame and counts it — a timed run must not hold unbounded frames for an
 * agent that does not read — while a link in `wait` mode (speed max) writes anyway and the runner
 * waits for `drain` before the next step.
 *
 * In: bytes go through `SerialFrameDecoder`; a corrupt run is counted (by error code) and skipped,
 * and the decoder resyncs at the next 00. Commands and resumes go to the listener; any other
 * well-formed frame (the agent never sends samples, events or acks) is counted as unexpected and
 * skipped.
 */
import {
  encodeSerialFrame,
  SerialFrameDecoder,
  type SerialDecoderStats,
  type SerialFrame,
} from '@fleet/protocol';
import { SerialPort } from 'serialport';
import { errorMessage, SimError, SimErrorCode } from './errors.js';
import type { AgentFrame, FrameOutput } from './robot/robot.js';
import type { Backpressure } from './runner.js';

export const DEFAULT_BAUD_RATE = 115_200;

/** The part of a serialport `SerialPort` the link uses. */
export interface SerialPortLike {
  write(data: Uint8Array): boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  close(callback: (error?: Error | null) => void): void;
}

export type WhenFull = 'drop' | 'wait';

export interface SerialLinkOptions {
  /** Named in errors and stats. */
  readonly path: string;
  readonly whenFull: WhenFull;
}

export interface SerialLinkStats extends SerialDecoderStats {
  readonly path: string;
  readonly framesOut: number;
  readonly bytesOut: number;
  /** Frames dropped because the transmit buffer was full. */
  readonly framesDropped: number;
  readonly commandsIn: number;
  readonly resumesIn: number;
  /** Well-formed frames that are neither commands nor resumes. */
  readonly unexpectedFrames: number;
}

export class SerialLink implements FrameOutput, Backpressure {
  private readonly decoder = new SerialFrameDecoder();
  private canWrite = true;
  private waiters: (() => void)[] = [];
  private onFrame: (frame: AgentFrame) => void = () => {};
  private onError: (error: SimError) => void = () => {};
  private framesOut = 0;
  private bytesOut = 0;
  private framesDropped = 0;
  private commandsIn = 0;
  private resumesIn = 0;
  private unexpectedFrames = 0;
  private closed = false;
  /** We are closing the port: writes it cancels are not failures. */
  private closing = false;

  constructor(
    private readonly port: SerialPortLike,
    private readonly o: SerialLinkOptions,
  ) {
    port.on('data', (chunk) => this.receive(chunk));
    port.on('drain', () => this.drain());
    port.on('error', (e) => {
      if (!this.closing) this.onError(new SimError(SimErrorCode.SERIAL, `${o.path}: ${e.message}`));
    });
    port.on('close', () => {
      this.closed = true;
      this.drain();
    });
  }

  /** Opens a serial device (a UART, or one end of a PTY pair). */
  static open(path: string, o: { baudRate: number; whenFull: WhenFull }): Promise<SerialLink> {
    return new Promise((done, fail) => {
      const port = new SerialPort({ path, baudRate: o.baudRate }, (error) => {
        if (error) fail(new SimError(SimErrorCode.SERIAL, `cannot open ${path}: ${errorMessage(error)}`));
        else done(new SerialLink(port, { path, whenFull: o.whenFull }));
      });
    });
  }

  /** Where command and resume frames go. */
  listen(onFrame: (frame: AgentFrame) => void, onError?: (error: SimError) => void): void {
    this.onFrame = onFrame;
    if (onError !== undefined) this.onError = onError;
  }

  send(frame: SerialFrame): void {
    if (this.closed || (!this.canWrite && this.o.whenFull === 'drop')) {
      this.framesDropped++;
      return;
    }
    const bytes = encodeSerialFrame(frame, { leadingDelimiter: true });
    this.framesOut++;
    this.bytesOut += bytes.length;
    if (!this.port.write(bytes)) this.canWrite = false;
  }

  get writable(): boolean {
    return this.canWrite || this.closed;
  }

  drained(): Promise<void> {
    if (this.writable) return Promise.resolve();
    return new Promise((done) => this.waiters.push(done));
  }

  get stats(): SerialLinkStats {
    return {
      path: this.o.path,
      framesOut: this.framesOut,
      bytesOut: this.bytesOut,
      framesDropped: this.framesDropped,
      commandsIn: this.commandsIn,
      resumesIn: this.resumesIn,
      unexpectedFrames: this.unexpectedFrames,
      ...this.decoder.stats,
    };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing = true;
    this.closed = true;
    this.drain();
    return new Promise((done) => this.port.close(() => done()));
  }

  private receive(chunk: Uint8Array): void {
    for (const result of this.decoder.push(chunk)) {
      if (!result.ok) continue; // counted by the decoder, by code
      const frame = result.frame;
      if (frame.type === 'command') {
        this.commandsIn++;
        this.onFrame(frame);
      } else if (frame.type === 'resume') {
        this.resumesIn++;
        this.onFrame(frame);
      } else {
        this.unexpectedFrames++;
      }
    }
  }

  private drain(): void {
    this.canWrite = true;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
