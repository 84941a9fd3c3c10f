import { EventEmitter } from 'node:events';
import { SerialFrameDecoder, encodeSerialFrame, type SerialCommandFrame } from '@fleet/protocol';
import type { AgentFrame } from '../src/robot/robot.js';
import { describe, expect, it } from 'vitest';
import { SerialLink, type SerialPortLike } from '../src/serial-link.js';
import { START } from './helpers.js';

/** A port whose transmit buffer holds `capacity` writes until `drain()`. */
class FakePort extends EventEmitter implements SerialPortLike {
  readonly written: Uint8Array[] = [];
  pending = 0;
  constructor(private readonly capacity = Infinity) {
    super();
  }
  write(data: Uint8Array): boolean {
    this.written.push(data);
    return ++this.pending < this.capacity;
  }
  drain(): void {
    this.pending = 0;
    this.emit('drain');
  }
  close(callback: (error?: Error | null) => void): void {
    this.emit('close');
    callback(null);
  }
}

const command: SerialCommandFrame = {
  type: 'command',
  commandId: 'c-1',
  action: { type: 'stop' },
  deadlineRobotTime: START,
};

describe('serial link (fake port)', () => {
  it('writes each frame with a leading 00 delimiter', () => {
    const port = new FakePort();
    const link = new SerialLink(port, { path: 'fake', whenFull: 'drop' });
    link.send({ type: 'ack', commandId: 'c-1', outcome: 'accepted', robotTime: START });
    expect(port.written[0]![0]).toBe(0);
    expect(port.written[0]!.at(-1)).toBe(0);
    const [result] = new SerialFrameDecoder().push(port.written[0]!);
    expect(result).toEqual({
      ok: true,
      frame: { type: 'ack', commandId: 'c-1', outcome: 'accepted', robotTime: START },
    });
  });

  it('delivers commands and resumes, and counts and skips corrupt and unexpected frames', () => {
    const port = new FakePort();
    const link = new SerialLink(port, { path: 'fake', whenFull: 'drop' });
    const got: AgentFrame[] = [];
    link.listen((f) => got.push(f));
    const bytes = encodeSerialFrame(command, { leadingDelimiter: true });
    const flipped = Uint8Array.from(bytes);
    flipped[5]! ^= 0x01;
    port.emit('data', Buffer.from([0x13, 0x37, 0xff, 0x00, 0x42, 0x00]));
    port.emit('data', Buffer.from(flipped));
    port.emit(
      'data',
      Buffer.from(encodeSerialFrame({ type: 'ack', commandId: 'x', outcome: 'failed', robotTime: 1 })),
    );
    for (const b of bytes) port.emit('data', Buffer.from([b])); // one byte at a time
    const resume = { type: 'resume', position: { bootId: 7, nextSeq: 42 } } as const;
    port.emit('data', Buffer.from(encodeSerialFrame(resume, { leadingDelimiter: true })));
    expect(got).toEqual([command, resume]);
    expect(link.stats).toMatchObject({ commandsIn: 1, resumesIn: 1, unexpectedFrames: 1, framesCorrupt: 3 });
  });

  it('in drop mode, drops frames while the transmit buffer is full and counts them', async () => {
    const port = new FakePort(2);
    const link = new SerialLink(port, { path: 'fake', whenFull: 'drop' });
    const ack = { type: 'ack', commandId: 'c', outcome: 'accepted', robotTime: START } as const;
    for (let i = 0; i < 5; i++) link.send(ack);
    expect(port.written).toHaveLength(2);
    expect(link.stats).toMatchObject({ framesOut: 2, framesDropped: 3 });
    expect(link.writable).toBe(false);
    const drained = link.drained();
    port.drain();
    await drained;
    link.send(ack);
    expect(port.written).toHaveLength(3);
  });

  it('in wait mode, writes anyway and leaves the waiting to the runner', () => {
    const port = new FakePort(1);
    const link = new SerialLink(port, { path: 'fake', whenFull: 'wait' });
    const ack = { type: 'ack', commandId: 'c', outcome: 'accepted', robotTime: START } as const;
    link.send(ack);
    link.send(ack);
    expect(port.written).toHaveLength(2);
    expect(link.writable).toBe(false);
  });
});
