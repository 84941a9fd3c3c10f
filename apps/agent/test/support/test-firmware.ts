/**
 * THE TEST PLAYS THE FIRMWARE: it holds the robot's end of a real PTY pair and writes
 * `encodeSerialFrame(...)` bytes on it, as the microcontroller would on the UART, with its own
 * robot clock (wall clock + an offset). It also reads what the agent sends down (command and
 * resume frames); answering a resume is up to the test.
 */
import {
  SerialFrameDecoder,
  encodeSerialFrame,
  type FirmwareAckOutcome,
  type SerialCommandFrame,
  type SerialFrame,
  type SerialResumeFrame,
} from '@fleet/protocol';
import { SerialPort } from 'serialport';
import { sampleFrame } from './samples.js';

export interface SentSample {
  readonly bootId: number;
  readonly seq: number;
  readonly robotTime: number;
  /** Wall-clock (agent clock) time of the write. */
  readonly sentAt: number;
}

export class TestFirmware {
  readonly commands: SerialCommandFrame[] = [];
  readonly resumes: SerialResumeFrame[] = [];
  readonly sent: SentSample[] = [];
  private readonly decoder = new SerialFrameDecoder();
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly port: SerialPort,
    /** robot clock − wall clock, ms. */
    readonly robotClockOffsetMs: number,
  ) {
    port.on('data', (chunk: Buffer) => {
      for (const r of this.decoder.push(chunk)) {
        if (r.ok && r.frame.type === 'command') this.commands.push(r.frame);
        if (r.ok && r.frame.type === 'resume') {
          this.resumes.push(r.frame);
          if (this.replaying) void this.replay(r.frame);
        }
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }

  private replaying = false;

  /**
   * From now on (until `answerResumes(false)`), answer a resume frame as resume-capable firmware does: send again, unchanged, the
   * samples sent before of the boot asked for, from its `nextSeq` (all of them without a position).
   */
  answerResumes(on = true): void {
    this.replaying = on;
  }

  private async replay(frame: SerialResumeFrame): Promise<void> {
    const p = frame.position;
    const again = this.sent.filter((s) => p === undefined || (s.bootId === p.bootId && s.seq >= p.nextSeq));
    for (const s of again) {
      await this.write(
        encodeSerialFrame(sampleFrame(s.bootId, s.seq, s.robotTime), { leadingDelimiter: true }),
      );
    }
  }

  static async open(path: string, robotClockOffsetMs: number): Promise<TestFirmware> {
    const port = new SerialPort({ path, baudRate: 115_200, autoOpen: false });
    await new Promise<void>((done, fail) => port.open((e) => (e ? fail(e) : done())));
    return new TestFirmware(port, robotClockOffsetMs);
  }

  robotNow(): number {
    return Date.now() + this.robotClockOffsetMs;
  }

  async sendSample(bootId: number, seq: number): Promise<SentSample> {
    const sentAt = Date.now();
    const robotTime = sentAt + this.robotClockOffsetMs;
    await this.write(encodeSerialFrame(sampleFrame(bootId, seq, robotTime), { leadingDelimiter: true }));
    const s = { bootId, seq, robotTime, sentAt };
    this.sent.push(s);
    return s;
  }

  async sendBoot(bootId: number, seq = 0): Promise<void> {
    await this.sendFrame({
      type: 'event',
      bootId,
      seq,
      robotTime: this.robotNow(),
      body: { type: 'boot', firmwareVersion: 'test-1.0', resetReason: 'power_on' },
    });
  }

  async sendAck(commandId: string, outcome: FirmwareAckOutcome, detail?: string): Promise<number> {
    const robotTime = this.robotNow();
    await this.sendFrame({
      type: 'ack',
      commandId,
      outcome,
      robotTime,
      ...(detail === undefined ? {} : { detail }),
    });
    return robotTime;
  }

  async sendFrame(frame: SerialFrame): Promise<void> {
    await this.write(encodeSerialFrame(frame, { leadingDelimiter: true }));
  }

  /** Raw bytes on the line (noise, corrupted frames). */
  write(bytes: Uint8Array): Promise<void> {
    return new Promise((done, fail) => {
      this.port.write(Buffer.from(bytes), (e) => {
        if (e) return fail(e);
        this.port.drain((e2) => (e2 ? fail(e2) : done()));
      });
    });
  }

  async waitForCommand(commandId: string, timeoutMs = 10_000): Promise<SerialCommandFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.commands.find((c) => c.commandId === commandId);
      if (found !== undefined) return found;
      if (Date.now() > deadline)
        throw new Error(`the agent sent no command frame ${commandId} within ${timeoutMs} ms`);
      await new Promise<void>((done) => {
        this.waiters.push(done);
        setTimeout(done, 50);
      });
    }
  }

  /** The `n`-th resume frame the agent sent (1-based), once it has come. */
  async waitForResume(n: number, timeoutMs = 10_000): Promise<SerialResumeFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.resumes[n - 1];
      if (found !== undefined) return found;
      if (Date.now() > deadline)
        throw new Error(
          `the agent sent ${this.resumes.length} resume frame(s), not ${n}, within ${timeoutMs} ms`,
        );
      await new Promise<void>((done) => {
        this.waiters.push(done);
        setTimeout(done, 50);
      });
    }
  }

  close(): Promise<void> {
    return new Promise((done) => (this.port.isOpen ? this.port.close(() => done()) : done()));
  }
}
