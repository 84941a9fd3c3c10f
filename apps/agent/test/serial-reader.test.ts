/**
 * The serial reader over bytes as a port delivers them: frames out in order, corrupt runs counted
 * by code, reboots and per-boot sequence gaps noticed and counted, never fatal.
 */
import { encodeSerialFrame, type SerialFrame } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { SerialReader, type FirmwareFrame, type RebootInfo } from '../src/serial/reader.js';
import { ManualClock } from './support/manual-clock.js';
import { sampleFrame } from './support/samples.js';

function reader() {
  const frames: FirmwareFrame[] = [];
  const reboots: RebootInfo[] = [];
  const r = new SerialReader({ onFrame: (f) => frames.push(f), onReboot: (i) => reboots.push(i) });
  return { r, frames, reboots };
}

const bytes = (...frames: SerialFrame[]) =>
  Uint8Array.from(frames.flatMap((f) => [...encodeSerialFrame(f, { leadingDelimiter: true })]));

const boot = (bootId: number, seq = 0): SerialFrame => ({
  type: 'event',
  bootId,
  seq,
  robotTime: 1000,
  body: { type: 'boot', firmwareVersion: '1.2.3', resetReason: 'power_on' },
});

describe('SerialReader', () => {
  it('hands an ack on at once; during a resume catch-up as delayed (it may be a replay), not as a clock reading', () => {
    const clock = new ManualClock();
    const got: [string, boolean][] = [];
    const r = new SerialReader(
      { onFrame: (f, _at, delayed) => got.push([f.type === 'ack' ? f.commandId : `${f.type}`, delayed]) },
      { clock, holdMs: 100 },
    );
    const ack = (commandId: string): SerialFrame => ({
      type: 'ack',
      commandId,
      outcome: 'accepted',
      robotTime: 1000,
    });
    r.push(bytes(ack('live')), clock.now());
    r.opened();
    r.push(bytes(ack('during-catch-up')), clock.now());
    expect(got).toEqual([
      ['live', false],
      ['during-catch-up', true],
    ]);
  });

  it('hands on frames in order however the bytes are cut', () => {
    const input = bytes(sampleFrame(1, 0, 1000), sampleFrame(1, 1, 1100), sampleFrame(1, 2, 1200));
    for (const cut of [1, 7, 33, input.length]) {
      const { r, frames } = reader();
      for (let i = 0; i < input.length; i += cut) r.push(input.subarray(i, i + cut), 0);
      expect(frames.map((f) => (f.type === 'sample' ? f.seq : -1))).toEqual([0, 1, 2]);
    }
  });

  it('skips and counts corrupt frames by code, and goes on with the next good one', () => {
    const { r, frames } = reader();
    const good = bytes(sampleFrame(1, 0, 1000));
    const flipped = bytes(sampleFrame(1, 1, 1100));
    flipped[10] = (flipped[10] ?? 0) ^ 0x04;
    r.push(
      Uint8Array.from([...good, 0x00, 0x13, 0x37, 0xbe, 0xef, ...flipped, ...bytes(sampleFrame(1, 2, 1200))]),
      0,
    );
    expect(frames.map((f) => (f.type === 'sample' ? f.seq : -1))).toEqual([0, 2]);
    const s = r.stats();
    expect(s.framesCorrupt).toBe(2);
    expect(s.corruptByCode.PROTOCOL_BAD_CHECKSUM + s.corruptByCode.PROTOCOL_BAD_FRAME).toBe(2);
    expect(s).toMatchObject({ seqGaps: 1, missingFrames: 1 });
  });

  it('counts a sequence gap with the number of frames missing, and drops a frame it already has', () => {
    const { r, frames } = reader();
    r.push(
      bytes(
        sampleFrame(1, 0, 1),
        sampleFrame(1, 1, 2),
        sampleFrame(1, 5, 3),
        sampleFrame(1, 5, 4),
        sampleFrame(1, 3, 4),
        sampleFrame(1, 6, 5),
      ),
      0,
    );
    expect(frames.map((f) => (f.type === 'sample' ? f.seq : -1))).toEqual([0, 1, 5, 6]);
    expect(r.stats()).toMatchObject({ seqGaps: 1, missingFrames: 3, resume: { duplicates: 2 } });
  });

  it('notices a reboot once, by the new bootId and by the boot event, and restarts the sequence', () => {
    const { r, reboots } = reader();
    r.push(bytes(sampleFrame(7, 100, 1), sampleFrame(7, 101, 2)), 0);
    expect(reboots).toEqual([]); // the agent started mid-boot: adopt it
    r.push(bytes(boot(8, 0), sampleFrame(8, 1, 3), sampleFrame(8, 2, 4)), 0);
    expect(reboots).toEqual([{ bootId: 8, previousBootId: 7, reason: 'boot_id_changed' }]);
    expect(r.stats()).toMatchObject({ reboots: 1, seqGaps: 0, resume: { duplicates: 0 } });
    expect(r.currentBootId).toBe(8);
  });

  it('notices a boot event that reuses the bootId as a reboot too', () => {
    const { r, reboots } = reader();
    r.push(bytes(boot(3, 0), sampleFrame(3, 1, 1), sampleFrame(3, 2, 2)), 0);
    r.push(bytes(boot(3, 0), sampleFrame(3, 1, 3)), 0);
    expect(reboots.map((i) => i.reason)).toEqual(['boot_event', 'boot_event']);
    expect(r.stats()).toMatchObject({ reboots: 2, resume: { duplicates: 0 } });
  });

  it('drops command frames (they only go down the line) and counts them', () => {
    const { r, frames } = reader();
    r.push(bytes({ type: 'command', commandId: 'c', action: { type: 'stop' }, deadlineRobotTime: 5 }), 0);
    expect(frames).toEqual([]);
    expect(r.stats().unexpectedFrames).toBe(1);
  });

  it('after reset() a half-received frame is dropped without an error', () => {
    const { r, frames } = reader();
    const input = bytes(sampleFrame(1, 0, 1));
    r.push(input.subarray(0, 20), 0);
    r.reset();
    r.push(bytes(sampleFrame(1, 1, 2)), 0);
    expect(frames).toHaveLength(1);
    expect(r.stats().framesCorrupt).toBe(0);
  });
});
