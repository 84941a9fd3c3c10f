/** The agent's side of a real serial line, played by a test: serialport + SerialFrameDecoder. */
import {
  encodeSerialFrame,
  SerialFrameDecoder,
  type SerialAckFrame,
  type SerialCommandFrame,
  type SerialFrame,
  type SerialResumeFrame,
  type SerialSampleFrame,
} from '@fleet/protocol';
import { SerialPort } from 'serialport';

export class TestAgent {
  readonly frames: SerialFrame[] = [];
  readonly decoder = new SerialFrameDecoder();
  /** performance.now() at each frame's arrival, parallel to `frames`. */
  readonly arrivals: number[] = [];

  private constructor(readonly port: SerialPort) {
    port.on('data', (chunk: Buffer) => {
      for (const r of this.decoder.push(chunk)) {
        if (!r.ok) continue;
        this.frames.push(r.frame);
        this.arrivals.push(performance.now());
      }
    });
  }

  static open(path: string): Promise<TestAgent> {
    return new Promise((done, fail) => {
      const port = new SerialPort({ path, baudRate: 115_200 }, (e) =>
        e ? fail(e) : done(new TestAgent(port)),
      );
    });
  }

  get samples(): SerialSampleFrame[] {
    return this.frames.filter((f): f is SerialSampleFrame => f.type === 'sample');
  }

  acksOf(commandId: string): SerialAckFrame[] {
    return this.frames.filter((f): f is SerialAckFrame => f.type === 'ack' && f.commandId === commandId);
  }

  send(frame: SerialCommandFrame | SerialResumeFrame): void {
    this.port.write(encodeSerialFrame(frame, { leadingDelimiter: true }));
  }

  write(bytes: Uint8Array): void {
    this.port.write(bytes);
  }

  async waitFor(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const until = performance.now() + timeoutMs;
    while (!done()) {
      if (performance.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((d) => setTimeout(d, 10));
    }
  }

  close(): Promise<void> {
    return new Promise((done) => this.port.close(() => done()));
  }
}
