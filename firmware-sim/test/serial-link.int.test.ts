/**
 * Integration over REAL serial lines: a PTY pair from socat (`openPtyPair`), the simulator's
 * SerialLink on one end, and the test playing the agent with serialport + SerialFrameDecoder on
 * the other. Simulated time runs from the wall clock (runner.ts), as in `npm run sim`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPtyPair, type PtyPair } from '@fleet/pty';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { Fleet } from '../src/fleet.js';
import { MemoryGroundTruth } from '../src/ground-truth.js';
import { runFleet, type Speed } from '../src/runner.js';
import { SerialLink } from '../src/serial-link.js';
import { Rng } from '../src/random.js';
import { defaultSite } from './helpers.js';
import { TestAgent } from './pty-agent.js';

let dir: string;
let n = 0;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-fwsim-'));
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Rig {
  readonly agent: TestAgent;
  readonly link: SerialLink;
  readonly fleet: Fleet;
  readonly truth: MemoryGroundTruth;
  /** robotTime a deadline `ms` from now should carry. */
  deadlineIn(ms: number): number;
}

/**
 * A PTY pair, the agent's end open first (a UART loses what nobody reads), then a simulated robot;
 * with `agentLateMs`, the agent's end opens only that long after the robot booted.
 */
async function rig(o: { sampleHz: number; speed: Speed; agentLateMs?: number }): Promise<Rig> {
  n++;
  const pty: PtyPair = await openPtyPair(join(dir, `robot-${n}.fw`), join(dir, `robot-${n}.agent`));
  cleanups.push(() => pty.close());
  let agent: TestAgent | undefined;
  const openAgent = async () => {
    agent = await TestAgent.open(pty.b);
    const opened = agent;
    cleanups.push(() => opened.close());
    return opened;
  };
  if (o.agentLateMs === undefined) await openAgent();
  const link = await SerialLink.open(pty.a, {
    baudRate: 115_200,
    whenFull: o.speed === 'max' ? 'wait' : 'drop',
  });
  cleanups.push(() => link.close());
  const truth = new MemoryGroundTruth();
  const fleet = new Fleet({
    seed: `int-${n}`,
    site: defaultSite(),
    robotIds: ['robot-1'],
    startTime: Date.now(),
    sampleHz: o.sampleHz,
    ackLatency: { medianMs: 40, p99Ms: 250 },
    output: () => link,
    groundTruth: truth,
  });
  link.listen((frame) => fleet.deliver(0, frame));
  const stop = new AbortController();
  const running = runFleet(fleet, { speed: o.speed, signal: stop.signal, lines: [link] });
  cleanups.push(async () => {
    stop.abort();
    await running;
  });
  if (o.agentLateMs !== undefined) await new Promise((done) => setTimeout(done, o.agentLateMs));
  return {
    agent: agent ?? (await openAgent()),
    link,
    fleet,
    truth,
    deadlineIn: (ms) => fleet.robots[0]!.robotTime + ms,
  };
}

describe('firmware-sim over a real PTY pair', () => {
  it('boots, then sends valid sample frames at the configured rate', async () => {
    const { agent, link } = await rig({ sampleHz: 25, speed: 1 });
    await agent.waitFor(() => agent.samples.length >= 50, 10_000, '50 samples');
    expect(agent.frames[0]).toMatchObject({
      type: 'event',
      seq: 0,
      body: { type: 'boot', resetReason: 'power_on' },
    });
    const samples = agent.samples.slice(0, 50);
    samples.forEach((s, i) => {
      expect(s.seq).toBe(i + 1);
      expect(s.bootId).toBe(agent.frames[0]!.type === 'event' ? agent.frames[0]!.bootId : -1);
      expect(s.voltageMv).toBeGreaterThan(21_000);
      expect(s.voltageMv).toBeLessThan(30_000);
      if (i > 0) expect(s.robotTime - samples[i - 1]!.robotTime).toBe(40); // 25 Hz on the robot's clock
    });
    // And in wall-clock time: 49 periods of 40 ms, give or take the timer loop.
    const first = agent.arrivals[1]!;
    const fiftieth = agent.arrivals[50]!;
    expect(fiftieth - first).toBeGreaterThan(49 * 40 * 0.7);
    expect(fiftieth - first).toBeLessThan(49 * 40 * 1.6);
    expect(agent.decoder.stats.framesCorrupt).toBe(0);
    expect(link.stats.framesDropped).toBe(0);
  });

  it('acknowledges a command accepted, then completed; an unknown zone is rejected', async () => {
    const { agent, truth, deadlineIn } = await rig({ sampleHz: 10, speed: 30 });
    await agent.waitFor(() => agent.samples.length > 0, 5000, 'a first sample');
    agent.send({
      type: 'command',
      commandId: 'go-1',
      action: { type: 'go_to_zone', zoneId: 'hallway' },
      deadlineRobotTime: deadlineIn(60_000),
    });
    agent.send({
      type: 'command',
      commandId: 'go-2',
      action: { type: 'go_to_zone', zoneId: 'attic' },
      deadlineRobotTime: deadlineIn(60_000),
    });
    // 4 m at 300 mm/s is 13 s simulated, under half a second here.
    await agent.waitFor(() => agent.acksOf('go-1').length >= 2, 10_000, 'go-1 completed');
    expect(agent.acksOf('go-1').map((a) => a.outcome)).toEqual(['accepted', 'completed']);
    expect(agent.acksOf('go-2').map((a) => [a.outcome, a.detail])).toEqual([
      ['rejected', 'unknown zone attic'],
    ]);
    // The robot stands at the zone's entry point: the next sample after the 'completed' ack shows
    // it (the ack can overtake the sample taken at the moment of arrival).
    await agent.waitFor(
      () => agent.samples.some((s) => s.xMm === 1000 && s.yMm === 4500),
      5000,
      'a sample at the hallway entry point',
    );
    const last = agent.samples.at(-1)!;
    expect(last.xMm).toBe(1000);
    expect(last.yMm).toBe(4500);
    expect(
      truth
        .ofType('command')
        .map((c) => c.outcome)
        .sort(),
    ).toEqual(['completed', 'rejected']);
  });

  it('replays to an agent that opened the line late and asks to resume: the boot event and every seq', async () => {
    const { agent, link, fleet } = await rig({ sampleHz: 25, speed: 1, agentLateMs: 1500 });
    // Live frames may come first (the line is already busy); the resume brings back the rest.
    agent.send({ type: 'resume' });
    await agent.waitFor(() => link.stats.resumesIn === 1, 5000, 'the resume to arrive');
    const robot = fleet.robots[0]!;
    await agent.waitFor(() => agent.samples.length > 60, 5000, 'samples');
    const seqs = new Set(
      agent.frames.flatMap((f) => (f.type === 'sample' || f.type === 'event' ? [f.seq] : [])),
    );
    const last = Math.max(...seqs);
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: last + 1 }, (_, i) => i));
    const boot = agent.frames.find((f) => f.type === 'event' && f.body.type === 'boot');
    expect(boot).toMatchObject({ seq: 0, bootId: robot.bootId, body: { resetReason: 'power_on' } });
    expect(robot.counters.replayed).toBeGreaterThanOrEqual(30); // 1.5 s at 25 Hz, and the boot event
    expect(agent.decoder.stats.framesCorrupt).toBe(0);
  });

  it('survives garbage on its command line: counts it, skips it, and keeps answering', async () => {
    const { agent, link, deadlineIn } = await rig({ sampleHz: 10, speed: 'max' });
    await agent.waitFor(() => agent.samples.length > 0, 5000, 'a first sample');
    const rng = Rng.fromSeed('garbage');
    const garbage = Uint8Array.from({ length: 4096 }, () => (rng.chance(0.05) ? 0 : rng.u32() & 0xff));
    agent.write(garbage);
    agent.write(Uint8Array.of(0x00, 0x05, 0x01, 0x04, 0xff, 0xff, 0x00)); // a well-delimited frame with a bad CRC
    agent.send({
      type: 'command',
      commandId: 'after-noise',
      action: { type: 'stop' },
      deadlineRobotTime: deadlineIn(3_600_000),
    });
    await agent.waitFor(() => agent.acksOf('after-noise').length >= 2, 10_000, 'acks after the noise');
    expect(agent.acksOf('after-noise').map((a) => a.outcome)).toEqual(['accepted', 'completed']);
    expect(link.stats.framesCorrupt).toBeGreaterThan(10);
    expect(link.stats.corruptByCode.PROTOCOL_BAD_CHECKSUM).toBeGreaterThan(0);
    expect(link.stats.commandsIn).toBe(1);
    const before = agent.samples.length;
    await agent.waitFor(() => agent.samples.length > before + 100, 10_000, 'samples to continue');
    expect(agent.decoder.stats.framesCorrupt).toBe(0);
  });
});
