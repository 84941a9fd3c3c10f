/**
 * Integration, real parts: a real PTY pair (socat) where THE TEST PLAYS THE FIRMWARE by writing
 * encoded serial frames on the robot's end; the real agent on the other end; a real Mosquitto; a
 * real mqtt.js client as the cloud, which also answers time-sync requests as the gateway would
 * (its clock 5 s ahead). Samples must arrive as batch records on the telemetry topic, every
 * (boot, seq) once and in order, with event times corrected from the robot's clock (3 min ahead)
 * to the gateway's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import { openAgentRig, type AgentRig } from './support/rig.js';
import { CloudSide } from './support/cloud-side.js';
import { TestFirmware } from './support/test-firmware.js';

const ROBOT_AHEAD_MS = 180_000;
const GATEWAY_AHEAD_MS = 5_000;

let rig: AgentRig;
let firmware: TestFirmware;
let cloud: CloudSide;
let agent: RunningAgent;

beforeAll(async () => {
  rig = await openAgentRig({
    name: 'telemetry',
    robotClockOffsetMs: ROBOT_AHEAD_MS,
    beforeAgent: (c) => c.actAsTimeServer(GATEWAY_AHEAD_MS),
  });
  ({ firmware, cloud, agent } = rig);
});

afterAll(async () => {
  await rig?.close();
});

describe('agent telemetry path (real PTY with the test as firmware, real Mosquitto, real MQTT cloud client)', () => {
  it('announces itself online (retained presence) and syncs its clock with the gateway', async () => {
    await cloud.waitFor('online presence', () =>
      cloud.presence().some((p) => p.online && p.reason === 'connected'),
    );
    // A few exchanges, so that the least-delayed one is a good one (the first may be slow).
    await cloud.waitFor('gateway clock sync', () => agent.stats().clock.gateway.answered >= 3);
    expect(Math.abs(agent.stats().clock.gateway.offsetMs - GATEWAY_AHEAD_MS)).toBeLessThan(20);
  });

  it('the firmware (the test) sends 300 samples over two boots: each (boot, seq) arrives once, in order, as batch records', async () => {
    await firmware.sendBoot(1, 0);
    for (let seq = 1; seq <= 200; seq++) {
      await firmware.sendSample(1, seq);
      await new Promise((done) => setTimeout(done, 5));
    }
    await firmware.sendBoot(2, 0);
    for (let seq = 1; seq <= 100; seq++) {
      await firmware.sendSample(2, seq);
      await new Promise((done) => setTimeout(done, 5));
    }
    await cloud.waitFor('all 300 samples', () => cloud.samples().length >= 300);
    await new Promise((done) => setTimeout(done, 500)); // nothing more may come

    const samples = cloud.samples();
    expect(samples.map((s) => `${s.bootId}/${s.seq}`)).toEqual([
      ...Array.from({ length: 200 }, (_, i) => `1/${i + 1}`),
      ...Array.from({ length: 100 }, (_, i) => `2/${i + 1}`),
    ]);
    const batches = cloud.received.filter((r) => r.channel === 'telemetry');
    expect(
      batches.every((r) => r.batch !== undefined && r.batch.robotId === 'r-1' && r.batch.siteId === 'site-1'),
    ).toBe(true);
    expect(batches.length).toBeLessThan(300); // batched, not one message per sample
    expect(Math.max(...batches.map((b) => b.batch?.samples.length ?? 0))).toBeLessThanOrEqual(50);

    // The boot events went to the events channel.
    const events = cloud.received.flatMap((r) => (r.message?.kind === 'robot_event' ? [r.message] : []));
    expect(events.map((e) => [e.bootId, e.seq, e.event.type])).toEqual([
      [1, 0, 'boot'],
      [2, 0, 'boot'],
    ]);
    expect(agent.stats().serial.reboots).toBe(2);
  });

  it('stamps event times on the gateway clock: robot time − 3 min + 5 s, within a few ms', () => {
    const sent = new Map(firmware.sent.map((s) => [`${s.bootId}/${s.seq}`, s]));
    const errors = cloud.samples().map((s) => {
      const origin = sent.get(`${s.bootId}/${s.seq}`);
      if (origin === undefined) throw new Error(`sample ${s.bootId}/${s.seq} was never sent`);
      return s.eventTime - (origin.sentAt + GATEWAY_AHEAD_MS);
    });
    // The PTY and the event loop delay each frame by a few ms; the minimum filter removes most of it.
    const sorted = [...errors].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
    const { gateway, robotOffsetMs } = agent.stats().clock;
    console.log(
      `event time − (send time on the gateway clock): min ${sorted[0]} ms, median ${median} ms, max ${sorted[sorted.length - 1]} ms; ` +
        `robot offset ${robotOffsetMs?.toFixed(1)} ms, gateway offset ${gateway.offsetMs} ms (round trip ${gateway.delayMs} ms)`,
    );
    expect(Math.abs(median)).toBeLessThanOrEqual(5);
    expect(Math.max(...errors.map(Math.abs))).toBeLessThanOrEqual(25);
  });

  it('acknowledges every spooled record, and goes offline (retained, reason disconnected) on stop', async () => {
    await cloud.waitFor('an empty spool', () => {
      const s = agent.stats().spool.records;
      return s.telemetry + s.priority === 0;
    });
    await agent.stop();
    await cloud.waitFor('offline presence', () => cloud.presence().some((p) => !p.online));
    expect(cloud.presence().filter((p) => !p.online)).toMatchObject([
      { reason: 'disconnected', retain: false },
    ]);
  });
});
