/**
 * Integration, real parts: a real PTY pair where THE TEST PLAYS THE FIRMWARE and also injects
 * garbage bytes and single bit flips into frames on the line; the real agent; a real Mosquitto;
 * a real mqtt.js cloud client. The agent must keep running, count the corruption, and publish
 * exactly the samples that crossed the line intact — never a damaged one.
 */
import { SerialFrameDecoder, encodeSerialFrame } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import { openAgentRig, type AgentRig } from './support/rig.js';
import { CloudSide } from './support/cloud-side.js';
import { seededRandom } from './support/random.js';
import { sampleFrame, telemetrySample } from './support/samples.js';
import { TestFirmware } from './support/test-firmware.js';

let rig: AgentRig;
let firmware: TestFirmware;
let cloud: CloudSide;
let agent: RunningAgent;

beforeAll(async () => {
  rig = await openAgentRig({ name: 'noise' });
  ({ firmware, cloud, agent } = rig);
  await cloud.waitFor('online presence', () => cloud.presence().some((p) => p.online));
});

afterAll(async () => {
  await rig?.close();
});

/** Bytes that the decoder provably rejects (checked here, so the test never depends on luck). */
function corrupt(bytes: Uint8Array, random: () => number): Uint8Array {
  for (;;) {
    const copy = Uint8Array.from(bytes);
    const at = 1 + Math.floor(random() * (copy.length - 1)); // keep the leading delimiter
    copy[at] = (copy[at] ?? 0) ^ (1 << Math.floor(random() * 8));
    if (new SerialFrameDecoder().push(copy).every((r) => !r.ok)) return copy;
  }
}

function garbage(random: () => number): Uint8Array {
  for (;;) {
    const bytes = Uint8Array.from({ length: 5 + Math.floor(random() * 60) }, () =>
      Math.floor(random() * 256),
    );
    if (new SerialFrameDecoder().push(Uint8Array.from([0, ...bytes, 0])).every((r) => !r.ok)) return bytes;
  }
}

describe('agent on a noisy serial line (real PTY with the test as firmware, real Mosquitto)', () => {
  it('skips garbage and bit-flipped frames, counts them by code, and publishes only the intact samples', async () => {
    const random = seededRandom(42);
    const intact: number[] = [];
    let corrupted = 0;
    let noise = 0;
    for (let seq = 0; seq < 400; seq++) {
      const frame = encodeSerialFrame(sampleFrame(1, seq, Date.now()), { leadingDelimiter: true });
      if (seq % 7 === 3) {
        await firmware.write(corrupt(frame, random));
        corrupted++;
      } else {
        await firmware.write(frame);
        intact.push(seq);
      }
      if (seq % 11 === 5) {
        await firmware.write(garbage(random));
        noise++;
      }
      if (seq % 20 === 0) await new Promise((done) => setTimeout(done, 5));
    }
    // The line is clean again: the agent is still reading.
    await firmware.sendSample(1, 400);
    intact.push(400);

    await cloud.waitFor(`${intact.length} intact samples`, () => cloud.samples().length >= intact.length);
    await new Promise((done) => setTimeout(done, 500));
    const samples = cloud.samples();
    expect(samples.map((s) => s.seq)).toEqual(intact);
    // Every published sample is exactly what the firmware measured (no damaged values got through).
    for (const s of samples) {
      expect({ ...s, eventTime: 0 }).toEqual(telemetrySample('r-1', 'site-1', 1, s.seq, 0));
    }

    const serial = agent.stats().serial;
    // Each flipped frame is one corrupt run; a garbage burst is one or more (it may contain 00s).
    expect(serial.framesCorrupt).toBeGreaterThanOrEqual(corrupted + noise);
    expect(serial.corruptByCode.PROTOCOL_BAD_CHECKSUM).toBeGreaterThan(0);
    expect(serial.seqGaps).toBe(corrupted);
    expect(serial.missingFrames).toBe(corrupted);
    console.log(
      `noise test: ${corrupted} bit-flipped frames and ${noise} garbage bursts -> ${serial.framesCorrupt} corrupt runs ` +
        `${JSON.stringify(serial.corruptByCode)}, ${serial.seqGaps} sequence gaps`,
    );
  });
});
