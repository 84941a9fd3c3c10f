/**
 * Fault tests of the stream runtime, all real: Kafka (the run's broker), PostgreSQL (a database of
 * this suite's own), and stream instances as child processes through apps/stream's CLI, so that
 * kill -9 and SIGSTOP hit the real process.
 *
 * The job is the CLI's `keyed-counts` (per key 1-minute tumbling count/sum windows, out-of-order
 * input within the bound, corrections within allowed lateness, late data beyond it, final results
 * through the outbox). Its input is deterministic and produced to a fresh 6-partition topic at a
 * steady pace WHILE the instances run. The reference is a failure-free run of ONE instance over the
 * same topic afterwards. Equality of everything committed (window results with kind, revision and
 * payload; late rows; outbox rows) proves no duplicate with other content and no gap.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createPool, migrate } from '@fleet/db';
import { createFileLog, createKafkaLog, type LogAdmin, type LogProducer } from '@fleet/log';
import { createTestDatabase, uniqueTopic, type TestDatabase } from '@fleet/testing';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  committedOutputs,
  killInstance,
  produceInput,
  startInstance,
  stopInstance,
  waitCaughtUp,
  waitFor,
  type ClusterOptions,
  type InputPlan,
  type StreamProc,
} from './support/stream-cluster.js';

const PARTITIONS = 6;
const PLAN: InputPlan = { keys: 48, perKey: 300, t0: Date.UTC(2025, 0, 1) };
const PRODUCE_MS = 24_000;
const RUN = randomBytes(2).toString('hex');

let db: TestDatabase;
let pool: ReturnType<typeof createPool>;
let admin: LogAdmin;
let producer: LogProducer;
const procs: StreamProc[] = [];
const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  db = await createTestDatabase(inject('databaseUrl'), 'e2e_stream_failover');
  pool = createPool({ url: db.url, max: 4 });
  await migrate(pool);
  const log = createKafkaLog({
    brokers: inject('kafkaBrokers').split(','),
    clientId: 'stream-failover-test',
  });
  admin = log.admin();
  producer = log.producer();
});

afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => stopInstance(p, 5_000)));
});

afterAll(async () => {
  await Promise.allSettled([producer?.close(), admin?.close(), ...closers.map((c) => c())]);
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  await pool?.end();
  await db?.drop();
});

/**
 * Topics of a scenario, on the run's Kafka broker or (`file`) on a file-backed log in a fresh
 * folder that every instance process opens (the embedded default's log).
 */
async function setup(name: string, kind: 'kafka' | 'file' = 'kafka') {
  const input = uniqueTopic(`stream.failover.${name}`);
  const outbox = uniqueTopic(`stream.failover.${name}.out`);
  const late = uniqueTopic(`stream.failover.${name}.late`);
  let logDir: string | undefined;
  let stateDir: string | undefined;
  let topicAdmin = admin;
  let topicProducer = producer;
  if (kind === 'file') {
    logDir = await mkdtemp(join(tmpdir(), 'stream-failover-log-'));
    stateDir = `${logDir}-state`;
    dirs.push(logDir, stateDir);
    const fileLog = createFileLog({ dir: logDir });
    topicAdmin = fileLog.admin();
    topicProducer = fileLog.producer();
    closers.push(
      () => topicAdmin.close(),
      () => topicProducer.close(),
    );
  }
  await topicAdmin.createTopics([
    { name: input, partitions: PARTITIONS },
    { name: outbox, partitions: PARTITIONS },
    { name: late, partitions: PARTITIONS },
  ]);
  const base = {
    brokers: inject('kafkaBrokers'),
    // The embedded default: the file-backed log and keyed state in LevelDB on local disk.
    ...(logDir === undefined ? {} : { logDir }),
    ...(stateDir === undefined ? {} : { stateDir }),
    databaseUrl: db.url,
    input,
    outboxTopic: outbox,
    lateTopic: late,
    // Compaction of the state segments runs every few checkpoints, between the kills and restores.
    compactAfterSegments: 4,
  };
  const options = (jobName: string): ClusterOptions => ({ ...base, jobName });
  const start = (id: string, jobName: string): StreamProc => {
    const p = startInstance(id, options(jobName));
    procs.push(p);
    return p;
  };
  return {
    input,
    late,
    start,
    admin: topicAdmin,
    producer: topicProducer,
    stateDir,
    membership: kind === 'kafka' ? 'kafka-group' : 'lease',
    job: `${name}_${RUN}`,
    ref: `ref_${name}_${RUN}`,
  };
}

type Scenario = Awaited<ReturnType<typeof setup>>;

/** Runs the failure-free reference (one instance) and compares everything committed. */
async function expectSameAsReference({
  start,
  input,
  admin,
  job,
  ref,
  late,
}: Pick<Scenario, 'start' | 'input' | 'admin' | 'job' | 'ref' | 'late'>): Promise<void> {
  const one = start(`${ref}-0`, ref);
  await waitCaughtUp(pool, admin, ref, input, 90_000);
  await stopInstance(one);
  await waitFor(
    'the outbox to be published',
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM stream_outbox WHERE job = ANY($1) AND published_at IS NULL',
        [[job, ref]],
      );
      return rows[0]?.n === 0 ? true : undefined;
    },
    30_000,
  );
  const actual = await committedOutputs(pool, job);
  const expected = await committedOutputs(pool, ref);
  expect(expected.outputs.length).toBeGreaterThan(PLAN.keys * 3);
  expect(expected.late.length).toBeGreaterThan(0);
  expect(expected.outputs.some((o) => / final [1-9]/.test(o))).toBe(true); // corrections happened
  expect(expected.outbox.length).toBeGreaterThan(0);
  // The late-data side output reaches its topic too: one outbox row per late row.
  expect(expected.outbox.filter((o) => o.startsWith('late/'))).toHaveLength(expected.late.length);
  // ... and was published: the topic holds at least the job's and the reference's (at least once).
  const published = (await admin.endOffsets(late)).reduce((a, b) => a + b, 0n);
  expect(published).toBeGreaterThanOrEqual(BigInt(expected.late.length + actual.late.length));
  expect(actual.outputs).toEqual(expected.outputs);
  expect(actual.late).toEqual(expected.late);
  expect(actual.outbox).toEqual(expected.outbox);
}

/** Three instances; one, chosen at random, killed -9 three times at random points and restarted. */
async function killScenario(scenario: Scenario): Promise<void> {
  const { input, start, admin, producer, job } = scenario;
  const live = ['a', 'b', 'c'].map((n) => start(`${n}-1`, job));
  let seed = Number.parseInt(RUN, 16) || 1;
  const random = () => (seed = (seed * 16_807) % 2_147_483_647) / 2_147_483_647;
  const producing = produceInput(producer, input, PLAN, PRODUCE_MS, 48);
  const kills: string[] = [];
  for (let k = 0; k < 3; k++) {
    await sleep(3_000 + random() * 3_000);
    const i = Math.floor(random() * live.length);
    const victim = live[i] as StreamProc;
    await killInstance(victim);
    kills.push(victim.id);
    await sleep(500 + random() * 1_000);
    live[i] = start(`${victim.id.split('-')[0] ?? 'x'}-${k + 2}`, job);
  }
  await producing;
  await waitCaughtUp(pool, admin, job, input, 90_000);
  // Partition ownership: the job's Kafka consumer group on Kafka, PostgreSQL leases on the file log.
  expect(live[0]?.events('started')[0]).toMatchObject({ membership: scenario.membership });
  expect(live.some((p) => p.events('checkpoint').some((e) => e['compaction'] !== undefined))).toBe(true);
  await Promise.all(live.map((p) => stopInstance(p)));

  const restores = await pool.query<{ partition: number; checkpoint_id: string; owner: string }>(
    'SELECT partition, checkpoint_id::text, owner FROM stream_restores WHERE job = $1 AND checkpoint_id > 0',
    [job],
  );
  expect(kills).toHaveLength(3);
  expect(restores.rows.length).toBeGreaterThan(0);
  await expectSameAsReference(scenario);
}

describe('stream failover (real Kafka, PostgreSQL, processes)', () => {
  it('three instances in a Kafka consumer group, one killed -9 at random points and restarted, give the reference outputs', async () => {
    await killScenario(await setup('kill'));
  }, 200_000);

  it('the same on the embedded default: file-backed log (one folder, shared by the processes), state in LevelDB', async () => {
    const scenario = await setup('filekill', 'file');
    await killScenario(scenario);
    // Every instance that owned a partition kept its keyed state in a LevelDB folder of its own (an
    // instance killed before its first claim has none).
    const { rows } = await pool.query<{ owner: string }>(
      'SELECT DISTINCT owner FROM stream_restores WHERE job = $1',
      [scenario.job],
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect((await readdir(scenario.stateDir ?? '')).sort()).toEqual(
      expect.arrayContaining(rows.map((r) => r.owner)),
    );
  }, 200_000);

  it('rescaling 1 -> 3 -> 2 instances mid-stream gives the reference outputs', async () => {
    const { input, late, start, job, ref } = await setup('rescale');
    const first = start('r-1', job);
    const producing = produceInput(producer, input, PLAN, PRODUCE_MS, 48);
    await sleep(PRODUCE_MS / 3);
    const second = start('r-2', job);
    const third = start('r-3', job);
    await waitFor(
      'three owners',
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          'SELECT count(DISTINCT owner)::int AS n FROM stream_ownership WHERE job = $1 AND owner IS NOT NULL',
          [job],
        );
        return rows[0]?.n === 3 ? true : undefined;
      },
      30_000,
    );
    await sleep(PRODUCE_MS / 6);
    await stopInstance(second);
    await producing;
    await waitCaughtUp(pool, admin, job, input, 90_000);
    const owners = await pool.query<{ owner: string | null }>(
      'SELECT DISTINCT owner FROM stream_ownership WHERE job = $1',
      [job],
    );
    expect(owners.rows.map((r) => r.owner).sort()).toEqual(['r-1', 'r-3']);
    await Promise.all([stopInstance(first), stopInstance(third)]);
    await expectSameAsReference({ input, start, admin, job, ref, late });
  }, 200_000);

  it('an instance frozen with SIGSTOP past its session timeout cannot commit after SIGCONT', async () => {
    const { input, late, start, job, ref } = await setup('freeze');
    const [a, b, c] = ['fa', 'fb', 'fc'].map((n) => start(n, job)) as [StreamProc, StreamProc, StreamProc];
    const producing = produceInput(producer, input, PLAN, PRODUCE_MS, 48);
    const held = await waitFor(
      'fb to own partitions and checkpoint',
      async () => {
        const { rows } = await pool.query<{ partition: number }>(
          "SELECT partition FROM stream_ownership WHERE job = $1 AND owner = 'fb'",
          [job],
        );
        return rows.length > 0 && b.events('checkpoint').length > 0
          ? rows.map((r) => r.partition)
          : undefined;
      },
      30_000,
    );
    await sleep(3_000);
    b.child.kill('SIGSTOP');
    // Its lease expires; the others claim its partitions (a new epoch each).
    await waitFor(
      "fb's partitions taken over",
      async () => {
        const { rows } = await pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM stream_ownership WHERE job = $1 AND partition = ANY($2) AND owner IN ('fa', 'fc')",
          [job, held],
        );
        return rows[0]?.n === held.length ? true : undefined;
      },
      30_000,
    );
    b.child.kill('SIGCONT');
    const fenced = await waitFor(
      'fb to report its commit fenced',
      () => {
        const e = b.events('fenced');
        return e.length > 0 ? e : undefined;
      },
      30_000,
    );
    expect(fenced[0]).toMatchObject({ event: 'fenced', owner: 'fb', job });
    expect(held).toContain(fenced[0]?.partition);
    await producing;
    await waitCaughtUp(pool, admin, job, input, 90_000);
    await Promise.all([a, b, c].map((p) => stopInstance(p)));
    // No checkpoint of fb was committed under an epoch that had been superseded at the time.
    const zombie = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM stream_checkpoints c JOIN stream_restores r
          ON r.job = c.job AND r.partition = c.partition AND r.epoch > c.epoch AND r.restored_at < c.committed_at
        WHERE c.job = $1 AND c.owner = 'fb'`,
      [job],
    );
    expect(zombie.rows[0]?.n).toBe(0);
    await expectSameAsReference({ input, start, admin, job, ref, late });
  }, 200_000);
});
