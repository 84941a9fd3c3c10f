/**
 * End-to-end, all real: firmware-sim and two fleet-agent processes run through their CLIs, over
 * PTY pairs from socat, publishing to an independent Mosquitto broker; a real MQTT client with a
 * persistent session plays the cloud.
 *
 * The broker is stopped for 60 s while the robots keep producing; during the outage one agent is
 * killed with SIGKILL and started again. After recovery every (boot, seq) the firmware produced —
 * counted by the simulator's ground truth — has arrived, first arrivals in order per robot. What the
 * firmware sent while no agent held its line is lost on the wire, as on a real UART: the restarted
 * agent gets it back by asking the firmware to resume from the last frame it spooled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import { decodeMessage, decodeTelemetryBatch, parseMqttTopic } from '@fleet/protocol';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ROBOTS = ['robot-1', 'robot-2'] as const;
const OUTAGE_MS = 60_000;

let dir: string;
let broker: MosquittoBroker;
const ptys: PtyPair[] = [];
const agents = new Map<string, ChildProcess>();
let sim: ChildProcess | undefined;
let cloud: mqtt.MqttClient;
type Channel = 'telemetry' | 'events';
/** Per robot and channel: seqs in order of first arrival. MQTT orders messages per topic only. */
const firstArrivals = new Map<string, number[]>();
/** Per robot: every (boot, seq) that arrived at least once. */
const seen = new Map<string, Set<string>>(ROBOTS.map((r) => [r, new Set()]));
const arrived = (robotId: string) => seen.get(robotId)?.size ?? 0;

/** Runs a workspace CLI from its TypeScript source, as `npm run agent` / `npm run sim` do. */
function cli(script: string, args: readonly string[], log: string): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  const keep = (chunk: Buffer) => {
    out.push(chunk.toString());
    if (out.length > 200) out.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('exit', () => void writeFile(join(dir, `${log}.log`), out.join('')).catch(() => undefined));
  return child;
}

async function startAgent(robotId: string, device: string): Promise<void> {
  const config = join(dir, `${robotId}.json`);
  await writeFile(
    config,
    JSON.stringify({
      robotId,
      siteId: 'site-e2e',
      serial: { path: device },
      mqtt: { urls: [broker.url], maxInflight: 8 },
      batch: { maxSamples: 100, maxDelayMs: 200 },
      spool: { dir: join(dir, `spool-${robotId}`), fsync: 'always' },
      reconnect: { initialMs: 200, maxMs: 2000, jitter: 1 },
    }),
  );
  agents.set(robotId, cli('apps/agent/src/cli.ts', ['run', '--config', config], `agent-${robotId}`));
}

/** QoS 1 may deliver twice (an agent killed with SIGKILL resends what it had not seen acknowledged); a
 * duplicate is allowed here and removed downstream by (robot, boot, seq), so only first arrivals count. */
function record(robotId: string, channel: Channel, bootId: number, seq: number): void {
  const key = `${bootId}:${seq}`;
  const set = seen.get(robotId);
  if (set === undefined || set.has(key)) return;
  set.add(key);
  const order = firstArrivals.get(`${robotId}/${channel}`) ?? [];
  order.push(seq);
  firstArrivals.set(`${robotId}/${channel}`, order);
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-e2e-outage-'));
  broker = await startMosquitto({
    allowAnonymous: true,
    // The cloud client's session and its queued messages survive the broker's restart.
    configExtra: `persistence true\npersistence_location ${dir}/\nmax_queued_messages 100000\n`,
  });
  cloud = mqtt.connect(broker.url, { clientId: 'e2e-cloud', clean: false, reconnectPeriod: 250 });
  await new Promise<void>((done, fail) => {
    cloud.once('connect', () => done());
    cloud.once('error', fail);
  });
  await cloud.subscribeAsync(['fleet/v1/+/+/telemetry', 'fleet/v1/+/+/events'], { qos: 1 });
  cloud.on('message', (topic, payload) => {
    const { robotId, channel } = parseMqttTopic(topic);
    if (channel === 'telemetry') {
      const batch = decodeTelemetryBatch(payload);
      for (const s of batch.samples) record(robotId, 'telemetry', s.bootId, s.seq);
    } else if (channel === 'events') {
      const event = decodeMessage(payload);
      if (event.kind === 'robot_event') record(robotId, 'events', event.bootId, event.seq);
    }
  });
  for (const robot of ROBOTS) {
    ptys.push(await openPtyPair(join(dir, `${robot}.fw`), join(dir, `${robot}.agent`)));
  }
  // Agents first: bytes written to a PTY nobody holds open are lost, and the boot event is the first.
  for (const [i, robot] of ROBOTS.entries()) await startAgent(robot, ptys[i]?.b ?? '');
  await sleep(3000);
}, 60_000);

afterAll(async () => {
  sim?.kill('SIGKILL');
  for (const agent of agents.values()) agent.kill('SIGKILL');
  await cloud?.endAsync(true);
  await Promise.all(ptys.map((p) => p.close()));
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('robot edge: a 60 s broker outage and a kill -9 of an agent lose nothing', () => {
  it('delivers every (boot, seq) the firmware produced, in order per robot', async () => {
    const groundTruth = join(dir, 'truth.jsonl');
    sim = cli(
      'firmware-sim/src/cli.ts',
      [
        '--robots',
        '2',
        ...ptys.flatMap((p) => ['--device', p.a]),
        '--speed',
        '1',
        '--seed',
        '7',
        '--ground-truth',
        groundTruth,
      ],
      'firmware-sim',
    );
    await until(() => ROBOTS.every((r) => arrived(r) > 20), 30_000, 'samples before the outage');

    // The outage: the broker is down 60 s; 20 s in, robot-1's agent dies by SIGKILL and comes back 5 s later.
    const outage = broker.restart({ downMs: OUTAGE_MS });
    await sleep(20_000);
    agents.get('robot-1')?.kill('SIGKILL');
    await sleep(5_000);
    await startAgent('robot-1', ptys[0]?.b ?? '');
    await outage;
    await sleep(8_000);

    sim.kill('SIGINT');
    await new Promise((done) => sim?.once('exit', done));
    const runEnd = (await readFile(groundTruth, 'utf8'))
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            type: string;
            robots?: {
              robotId: string;
              samples: number;
              events: number;
              replayed: number;
              resumes: number;
            }[];
          },
      )
      .find((r) => r.type === 'run_end');
    expect(runEnd?.robots).toHaveLength(ROBOTS.length);

    for (const counters of runEnd?.robots ?? []) {
      const produced = counters.samples + counters.events;
      expect(produced).toBeGreaterThan(10 * (OUTAGE_MS / 1000)); // it kept producing through the outage
      const robot = counters.robotId;
      await until(() => arrived(robot) >= produced, 60_000, `all ${produced} frames of ${robot}`).catch(
        (error: Error) => {
          throw new Error(`${error.message}; arrived ${arrived(robot)}`);
        },
      );
      console.log(
        `${robot}: produced ${produced} frames (${counters.samples} samples, ${counters.events} events), ` +
          `arrived ${arrived(robot)} distinct (boot, seq); firmware answered ${counters.resumes} resume(s), ` +
          `replaying ${counters.replayed} frames`,
      );
      // Nothing lost, nothing invented: one boot, seqs 0..produced-1 (samples and events share them).
      const all = [...(seen.get(robot) ?? [])].map((k) => Number(k.split(':')[1])).sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: produced }, (_, seq) => seq));
      expect(new Set([...(seen.get(robot) ?? [])].map((k) => k.split(':')[0])).size).toBe(1);
      // In order per robot on each topic.
      for (const channel of ['telemetry', 'events'] as const) {
        const order = firstArrivals.get(`${robot}/${channel}`) ?? [];
        expect(order, `${robot} ${channel}`).toEqual([...order].sort((a, b) => a - b));
      }
      expect(firstArrivals.get(`${robot}/telemetry`)?.length).toBe(counters.samples);
      expect(firstArrivals.get(`${robot}/events`)?.length).toBe(counters.events);
    }
    // What the killed agent missed while no one held its line came back as a replay.
    expect(runEnd?.robots?.find((r) => r.robotId === 'robot-1')?.replayed).toBeGreaterThan(0);
  }, 240_000);
});
