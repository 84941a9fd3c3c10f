/**
 * Integration, real parts: a real PTY pair (socat) where THE TEST PLAYS THE FIRMWARE, the real
 * agent run twice on the same spool directory (the real file spool and position file), a real
 * Mosquitto, a real mqtt.js client as the cloud (answering time sync, its clock 2 s ahead).
 *
 * The first run asks for everything (it knows nothing), gets a boot event and 40 samples, and
 * stops. While no agent holds the line, the firmware produces 20 more samples (a UART would lose
 * them; the firmware keeps them for a resume). The second run must ask from (boot, 41); the test
 * answers like resume firmware that re-sends from further back than asked (35..60, the first six a
 * replay of what the agent has), then goes on live. The cloud must get every (boot, seq) once, in
 * order, replayed samples stamped with the time they were measured, not the time they came again.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import type { SerialSampleFrame } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import { POSITION_FILE } from '../src/ingest/position-file.js';
import { startTestAgent } from './support/agent-under-test.js';
import { CloudSide } from './support/cloud-side.js';
import { sampleFrame } from './support/samples.js';
import { openTestSpool } from './support/spool.js';
import { TestFirmware } from './support/test-firmware.js';

const BOOT = 0x5eed_0042;
const ROBOT_AHEAD_MS = 42_000;
const GATEWAY_AHEAD_MS = 2_000;

let dir: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let agent: RunningAgent | undefined;

const start = async () =>
  (
    await startTestAgent({
      serialPath: pty.b,
      brokerUrl: broker.url,
      spoolDir: join(dir, 'spool'),
      openSpool: openTestSpool,
      config: { spool: { dir: join(dir, 'spool'), fsync: 'always' } },
    })
  ).agent;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-resume-'));
  broker = await startMosquitto();
  pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  firmware = await TestFirmware.open(pty.a, ROBOT_AHEAD_MS);
  cloud = await CloudSide.connect(broker.url, 'site-1', 'r-1');
  cloud.actAsTimeServer(GATEWAY_AHEAD_MS);
});

afterAll(async () => {
  await agent?.stop();
  await cloud?.close();
  await firmware?.close();
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function position(): Promise<unknown> {
  return JSON.parse(await readFile(join(dir, 'spool', POSITION_FILE), 'utf8').catch(() => 'null'));
}

describe('resume across two agent runs on one spool directory (real PTY with the test as firmware)', () => {
  it('the second run asks from the last frame the first one spooled, and takes a replay once, in order', async () => {
    /** Agent-clock instant each sample was measured. */
    const measured = new Map<number, number>();
    const produce = (seq: number): SerialSampleFrame => {
      const frame = sampleFrame(BOOT, seq, firmware.robotNow());
      measured.set(seq, frame.robotTime - ROBOT_AHEAD_MS);
      return frame;
    };

    // Run 1: nothing known, so a resume without a position.
    agent = await start();
    expect(await firmware.waitForResume(1)).toEqual({ type: 'resume' });
    await firmware.sendBoot(BOOT, 0);
    const frames: SerialSampleFrame[] = [];
    for (let seq = 1; seq <= 40; seq++) {
      frames[seq] = produce(seq);
      await firmware.sendFrame(frames[seq]!);
      await sleep(20);
    }
    await cloud.waitFor(
      'the position file at seq 40',
      () => agent?.stats().position.file.position?.seq === 40,
    );
    expect(await position()).toEqual({ version: 1, bootId: BOOT, seq: 40 });
    await cloud.waitFor('run 1 published', () => cloud.samples().length >= 40);
    await agent.stop();
    agent = undefined;

    // Nobody holds the line: the firmware goes on producing and keeps what it produced.
    for (let seq = 41; seq <= 60; seq++) {
      frames[seq] = produce(seq);
      await sleep(50);
    }

    // Run 2, same spool directory: it asks from (boot, 41).
    agent = await start();
    expect(await firmware.waitForResume(2)).toEqual({
      type: 'resume',
      position: { bootId: BOOT, nextSeq: 41 },
    });
    for (let seq = 35; seq <= 60; seq++) await firmware.sendFrame(frames[seq]!); // the replay, in a burst
    for (let seq = 61; seq <= 80; seq++) {
      await firmware.sendFrame(produce(seq));
      await sleep(20);
    }
    await cloud.waitFor('all 80 samples', () => new Set(cloud.samples().map((s) => s.seq)).size >= 80);
    await sleep(500); // nothing more may come

    const samples = cloud.samples();
    expect(samples.map((s) => s.seq)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
    expect(samples.every((s) => s.bootId === BOOT)).toBe(true);
    const stats = agent.stats();
    expect(stats.serial.resume).toMatchObject({ duplicates: 6, resumesSent: 1 });
    expect(stats.ingest.delayed).toBeGreaterThanOrEqual(19); // 41..60 waited in the firmware
    expect(stats.clock.robotClockSteps).toBe(0);

    // Replayed samples carry the time they were measured (on the gateway clock), not their arrival
    // (seconds later): stamped from the same estimate as the live ones around them. The absolute
    // error is mostly the gateway sync's, from one exchange so soon after the start.
    const errors = samples.map((s) => s.eventTime - ((measured.get(s.seq) ?? NaN) + GATEWAY_AHEAD_MS));
    const replayed = errors.slice(40, 60);
    const live = [...errors.slice(60)].sort((a, b) => a - b);
    const liveMedian = live[live.length >> 1] ?? NaN;
    console.log(
      `resume: event time − measuring time, replayed samples ${Math.min(...replayed)}..${Math.max(...replayed)} ms, ` +
        `live ones after them ${live[0]}..${live.at(-1)} ms; agent: ${JSON.stringify(stats.serial.resume)}`,
    );
    expect(Math.max(...replayed.map((e) => Math.abs(e - liveMedian)))).toBeLessThanOrEqual(10);
    expect(Math.max(...errors.map(Math.abs))).toBeLessThanOrEqual(100);
    await cloud.waitFor('the position at seq 80', () => agent?.stats().position.file.position?.seq === 80);
  });
});
