/**
 * Integration, real parts, fault injection at one point: the real Mosquitto is stopped for 4 s
 * while THE TEST, PLAYING THE FIRMWARE on a real PTY pair, keeps producing samples at 50 Hz; then
 * the broker comes back on the same port. The agent spools during the outage, reconnects with its
 * own backoff, and resends; the cloud (a real mqtt.js client with a persistent session, so the
 * broker queues for it across the restart) must then have every (boot, seq), first occurrences in
 * order. Duplicates are what QoS 1 allows (a batch whose PUBACK was lost is sent again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import type { MosquittoBroker } from '@fleet/edge-testing';
import { openAgentRig, type AgentRig } from './support/rig.js';
import { CloudSide } from './support/cloud-side.js';
import { TestFirmware } from './support/test-firmware.js';

let rig: AgentRig;
let broker: MosquittoBroker;
let firmware: TestFirmware;
let cloud: CloudSide;
let agent: RunningAgent;

beforeAll(async () => {
  rig = await openAgentRig({
    name: 'outage',
    robotClockOffsetMs: 42_000,
    // Persistence on, so that the cloud's session (and its subscription) survives the restart.
    mosquitto: (dir) => ({
      configExtra: `persistence true\npersistence_location ${dir}/\nmax_queued_messages 100000`,
    }),
    cloud: { clientId: 'cloud-outage-test', clean: false },
  });
  ({ broker, firmware, cloud, agent } = rig);
  await cloud.waitFor('online presence', () => cloud.presence().some((p) => p.online));
});

afterAll(async () => {
  await rig?.close();
});

describe('broker outage (real Mosquitto stopped and restarted, real PTY with the test as firmware)', () => {
  it('after the broker comes back every (boot, seq) arrives, first occurrences in order', async () => {
    let seq = 0;
    let producing = true;
    const production = (async () => {
      while (producing) {
        await firmware.sendSample(3, seq++);
        await new Promise((done) => setTimeout(done, 20));
      }
    })();

    await cloud.waitFor('samples flowing', () => cloud.samples().length >= 50);
    const outage = broker.restart({ downMs: 4000 });
    await new Promise((done) => setTimeout(done, 500));
    const duringOutage = agent.stats();
    await outage;
    await new Promise((done) => setTimeout(done, 2000));
    producing = false;
    await production;
    const total = seq;

    await cloud.waitFor(
      `all ${total} samples`,
      () => new Set(cloud.samples().map((s) => s.seq)).size >= total,
      30_000,
    );
    const arrived = cloud.samples().map((s) => s.seq);
    const firsts: number[] = [];
    const seen = new Set<number>();
    for (const s of arrived) {
      if (!seen.has(s)) firsts.push(s);
      seen.add(s);
    }
    expect(firsts).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(cloud.samples().every((s) => s.bootId === 3)).toBe(true);

    expect(duringOutage.mqtt.connected).toBe(false);
    const after = agent.stats();
    expect(after.mqtt.disconnects).toBeGreaterThanOrEqual(1);
    expect(after.mqtt.connected).toBe(true);
    console.log(
      `outage: ${total} samples produced, ${arrived.length} received (${arrived.length - total} duplicates), ` +
        `${after.mqtt.connects} connects, ${after.publisher.batches} batches published`,
    );
    await cloud.waitFor('an empty spool', () => {
      const s = agent.stats().spool.records;
      return s.telemetry + s.priority === 0;
    });
  });
});
