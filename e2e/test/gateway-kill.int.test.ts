/**
 * End-to-end fault, all real: firmware-sim and three fleet-agent processes run through their CLIs
 * over PTY pairs from socat; the gateway runs as a child process through its CLI on a fixed MQTT
 * port, against the run's Kafka broker and a PostgreSQL database of its own; the robots are
 * provisioned with the gateway CLI and the agents log in with their secrets.
 *
 * Under load the gateway is killed with SIGKILL (no shutdown, no flush), and started again 5 s later
 * on the same port. The agents reconnect and resend what their spools hold (an agent deletes a batch
 * only on its PUBACK, and the gateway sends that only after Kafka acknowledged it). The checker reads
 * the telemetry and robot-events topics from the offsets they had when the test started and compares
 * them with the simulator's ground truth: every (boot, seq) the firmware produced is in Kafka —
 * stronger than "every PUBACKed sample", since it also covers what was never sent before the kill.
 * QoS 1 duplicates are allowed (removed downstream by (robot, boot, seq)) and reported.
 *
 * The gateway is also the agents' time reference: each agent completes a time/req -> time/resp
 * exchange with it (its `gateway_offset` log event), the gateway counts the answers, and the
 * samples' corrected event times agree with the times Kafka recorded them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openPtyPair, type PtyPair } from '@fleet/edge-testing';
import { createTestDatabase, freePort, type TestDatabase } from '@fleet/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EdgeArrivals } from './support/kafka-collect.js';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ROBOT_COUNT = 3;
const SITE = 'site-gw-kill';
/** Unique per run: the Kafka topics are shared with every other test of the run. */
const PREFIX = `gk${randomBytes(3).toString('hex')}-`;
const ROBOTS = Array.from({ length: ROBOT_COUNT }, (_, i) => `${PREFIX}${i + 1}`);

let dir: string;
let db: TestDatabase | undefined;
let mqttPort: number;
let arrivals: EdgeArrivals | undefined;
const ptys: PtyPair[] = [];
const secrets = new Map<string, string>();
const agents = new Map<string, Proc>();
let gateway: Proc | undefined;
let sim: Proc | undefined;
const testStart = Date.now();

interface Proc {
  readonly child: ChildProcess;
  /** Every line the process wrote to stdout and stderr. */
  readonly lines: string[];
  readonly exited: Promise<void>;
}

/** Runs a workspace CLI from its TypeScript source in ONE node process (so SIGKILL hits the program itself). */
function cli(script: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, log?: string): Proc {
  const child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  if (log !== undefined)
    void exited.then(() => writeFile(join(dir, `${log}.log`), lines.join('\n')).catch(() => undefined));
  return { child, lines, exited };
}

const json = (line: string): Record<string, unknown> | undefined => {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
};

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await sleep(100);
  }
}

function gatewayEnv(): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: inject('kafkaBrokers'),
    DATABASE_URL: db?.url ?? '',
    FLEET_GATEWAY_ID: `gw-e2e-kill-${PREFIX.slice(2, 8)}`,
    FLEET_GATEWAY_MQTT_HOST: '127.0.0.1',
    FLEET_GATEWAY_MQTT_PORT: String(mqttPort),
    FLEET_GATEWAY_HTTP_PORT: '0',
    FLEET_GATEWAY_KAFKA_PARTITIONS: '4',
  };
}

/** Starts the gateway and resolves with its operations port once it printed its ready line. */
async function startGateway(name: string): Promise<number> {
  const proc = cli('apps/gateway/src/cli.ts', ['run'], gatewayEnv(), name);
  gateway = proc;
  let http: number | undefined;
  await until(
    () => {
      if (proc.child.exitCode !== null)
        throw new Error(`gateway exited (${proc.child.exitCode}):\n${proc.lines.slice(-30).join('\n')}`);
      const ready = proc.lines.map(json).find((l) => l?.['ready'] === true);
      http = ready?.['http'] as number | undefined;
      return ready !== undefined;
    },
    60_000,
    () => `the gateway's ready line:\n${proc.lines.slice(-30).join('\n')}`,
  );
  return http ?? 0;
}

async function provision(robotId: string): Promise<string> {
  const proc = cli('apps/gateway/src/cli.ts', ['robots', 'add', robotId, '--site', SITE], {
    DATABASE_URL: db?.url ?? '',
  });
  await proc.exited;
  const out = proc.lines.map(json).find((l) => typeof l?.['secret'] === 'string');
  if (proc.child.exitCode !== 0 || out === undefined) {
    throw new Error(`robots add ${robotId} failed (${proc.child.exitCode}):\n${proc.lines.join('\n')}`);
  }
  return out['secret'] as string;
}

async function startAgent(robotId: string, device: string): Promise<void> {
  const config = join(dir, `${robotId}.json`);
  await writeFile(
    config,
    JSON.stringify({
      robotId,
      siteId: SITE,
      serial: { path: device },
      mqtt: { urls: [`mqtt://127.0.0.1:${mqttPort}`], password: secrets.get(robotId), maxInflight: 8 },
      batch: { maxSamples: 100, maxDelayMs: 200 },
      spool: { dir: join(dir, `spool-${robotId}`), fsync: 'always' },
      reconnect: { initialMs: 200, maxMs: 2000, jitter: 1 },
    }),
  );
  agents.set(robotId, cli('apps/agent/src/cli.ts', ['run', '--config', config], {}, `agent-${robotId}`));
}

async function metric(httpPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

const agentEvents = (robotId: string, event: string): Record<string, unknown>[] =>
  (agents.get(robotId)?.lines ?? [])
    .map(json)
    .filter((l): l is Record<string, unknown> => l?.['event'] === event);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-e2e-gw-kill-'));
  db = await createTestDatabase(inject('databaseUrl'), 'e2e_gw_kill');
  mqttPort = await freePort();
  for (const robot of ROBOTS) secrets.set(robot, await provision(robot));
  // The gateway creates the topics if this is the run's first test to use them; only then are
  // their end offsets known, and nothing of these robots has been written yet.
  await startGateway('gateway-1');
  arrivals = await EdgeArrivals.open(inject('kafkaBrokers').split(','), ROBOTS);
  for (const robot of ROBOTS)
    ptys.push(await openPtyPair(join(dir, `${robot}.fw`), join(dir, `${robot}.agent`)));
  // Agents first: bytes written to a PTY nobody holds open are lost, and the boot event is the first.
  for (const [i, robot] of ROBOTS.entries()) await startAgent(robot, ptys[i]?.b ?? '');
  await until(
    () => ROBOTS.every((r) => agentEvents(r, 'mqtt_connected').length > 0),
    30_000,
    () => 'every agent connected to the gateway',
  );
}, 120_000);

afterAll(async () => {
  // Whatever happened: no process of this test outlives it.
  for (const proc of [gateway, sim, ...agents.values()]) {
    if (proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }
  await arrivals?.close();
  await Promise.all(ptys.map((p) => p.close()));
  await db?.drop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('gateway killed with SIGKILL under load and restarted', () => {
  it('loses nothing: every (boot, seq) the firmware produced reaches Kafka; agents reconnect, resend and re-sync their clocks', async () => {
    const collect = arrivals as EdgeArrivals;
    let reading = true;
    const reader = (async () => {
      while (reading) await collect.poll();
    })();
    try {
      const groundTruth = join(dir, 'truth.jsonl');
      sim = cli(
        'firmware-sim/src/cli.ts',
        [
          '--robots',
          String(ROBOT_COUNT),
          ...ptys.flatMap((p) => ['--device', p.a]),
          '--robot-id-prefix',
          PREFIX,
          '--speed',
          '1',
          '--seed',
          '11',
          '--ground-truth',
          groundTruth,
        ],
        {},
        'firmware-sim',
      );
      await sleep(15_000);
      expect(
        ROBOTS.map((r) => collect.distinct(r) > 50),
        'samples in Kafka before the kill',
      ).toEqual(ROBOTS.map(() => true));
      for (const robot of ROBOTS) {
        expect(
          agentEvents(robot, 'gateway_offset').length,
          `${robot} synced its clock with the gateway`,
        ).toBeGreaterThan(0);
      }

      // kill -9: the process gets no chance to flush or close anything.
      const killed = gateway as Proc;
      const beforeKill = Object.fromEntries(ROBOTS.map((r) => [r, collect.distinct(r)]));
      killed.child.kill('SIGKILL');
      await killed.exited;
      expect(killed.child.signalCode).toBe('SIGKILL');
      const killedAt = Date.now();
      await sleep(5_000);
      const httpPort = await startGateway('gateway-2');
      const restartedAt = Date.now();
      await sleep(15_000);

      sim.child.kill('SIGINT');
      await sim.exited;
      type Counters = { robotId: string; samples: number; events: number };
      const runEnd = (await readFile(groundTruth, 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; robots?: Counters[] })
        .find((r) => r.type === 'run_end');
      expect(runEnd?.robots?.map((r) => r.robotId).sort()).toEqual([...ROBOTS].sort());

      const report: Record<string, unknown>[] = [];
      for (const counters of runEnd?.robots ?? []) {
        const robot = counters.robotId;
        const produced = counters.samples + counters.events;
        // The agents drain their spools; wait (bounded) until Kafka has all of it.
        await until(
          () => collect.distinct(robot) >= produced,
          60_000,
          () => `all ${produced} frames of ${robot} in Kafka (have ${collect.distinct(robot)})`,
        );
        await sleep(500);
        const r = collect.robots.get(robot);
        const keys = [...(r?.samples.keys() ?? []), ...(r?.events.keys() ?? [])];
        // Nothing lost, nothing invented: one boot, seqs 0..produced-1 (samples and events share them).
        const seqs = keys.map((k) => Number(k.split(':')[1])).sort((a, b) => a - b);
        expect(seqs, `${robot}: (boot, seq) in Kafka`).toEqual(
          Array.from({ length: produced }, (_, seq) => seq),
        );
        expect(new Set(keys.map((k) => k.split(':')[0])).size, `${robot}: boots`).toBe(1);
        expect(r?.samples.size, `${robot}: telemetry samples`).toBe(counters.samples);
        expect(r?.events.size, `${robot}: robot events`).toBe(counters.events);
        const duplicates = [...(r?.samples.values() ?? []), ...(r?.events.values() ?? [])].reduce(
          (n, c) => n + c - 1,
          0,
        );
        const connects = agentEvents(robot, 'mqtt_connected').length;
        report.push({
          robot,
          produced,
          samples: counters.samples,
          events: counters.events,
          inKafkaBeforeKill: beforeKill[robot],
          duplicates,
          connects,
          clockSyncs: agentEvents(robot, 'gateway_offset').length,
          maxRecordTimeMinusEventTimeMs: r?.maxSkewMs,
        });
        // It reconnected to the restarted gateway (a second CONNACK).
        expect(connects, `${robot}: connections to the gateway`).toBeGreaterThanOrEqual(2);
        // Event times are on the gateway's clock and sane: inside the test's run, and each sample
        // written to Kafka at most the kill + restart + batching after its event time.
        expect(r?.firstEventTime).toBeGreaterThanOrEqual(testStart - 1000);
        expect(r?.lastEventTime).toBeLessThanOrEqual(Date.now());
        expect(r?.maxSkewMs).toBeLessThan(restartedAt - killedAt + 15_000);
      }
      // The restarted gateway answered the agents' time requests.
      const timeAnswers = await metric(httpPort, 'fleet_gateway_time_sync_answers_total');
      console.log(
        JSON.stringify({
          gatewayDownMs: restartedAt - killedAt,
          restartedGatewayTimeSyncAnswers: timeAnswers,
          robots: report,
        }),
      );
      expect(timeAnswers).toBeGreaterThan(0);
    } finally {
      reading = false;
      await reader;
    }
  }, 150_000);
});
