/**
 * Integration tier. Real: the run's Apache Kafka broker (KRaft, 4.x, with the consumer group
 * protocol of KIP-848) and the @platformatic/kafka connection; nothing stubbed. Checks the group
 * member the stream runtime uses for partition ownership: members split a topic's partitions, a
 * revoked partition reaches its next owner only after the old owner stops reporting it (the
 * cooperative hand-over), a member that leaves hands over at once, and settings the brokers refuse
 * fail with a final error that says what to change.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createKafkaLog, LogError, type GroupMember, type LogAdmin } from '../src/index.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
  }
}

const PARTITIONS = 6;
const log = createKafkaLog({ brokers: inject('kafkaBrokers').split(','), clientId: 'log-group-test' });
const RUN = randomBytes(3).toString('hex');
const TOPIC = `log-group.${RUN}`;
let admin: LogAdmin;
const members: GroupMember[] = [];

function member(group: string, overrides: { sessionTimeoutMs?: number; heartbeatIntervalMs?: number } = {}) {
  const m = (log.groupMember as NonNullable<typeof log.groupMember>)({
    groupId: `log-group-test.${RUN}.${group}`,
    topic: TOPIC,
    sessionTimeoutMs: overrides.sessionTimeoutMs ?? 4000,
    heartbeatIntervalMs: overrides.heartbeatIntervalMs ?? 200,
  });
  members.push(m);
  return m;
}

/** Polls the members' assignments until `done` holds for them (or fails after 20 s, saying what was seen). */
async function until(
  ms: readonly GroupMember[],
  done: (assignments: (readonly number[])[]) => boolean,
): Promise<(readonly number[])[]> {
  let seen: (readonly number[])[] = [];
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    seen = await Promise.all(ms.map(async (m) => (await m.assignment()).partitions));
    if (done(seen)) return seen;
    await sleep(100);
  }
  throw new Error(`assignments never settled: ${JSON.stringify(seen)}`);
}

const all = Array.from({ length: PARTITIONS }, (_, i) => i);
const union = (as: (readonly number[])[]) => [...new Set(as.flat())].sort((a, b) => a - b);
const disjointCover = (as: (readonly number[])[]) =>
  as.every((a) => a.length > 0) && as.flat().length === PARTITIONS && union(as).join() === all.join();

beforeAll(async () => {
  admin = log.admin();
  await admin.createTopics([{ name: TOPIC, partitions: PARTITIONS }]);
});

afterAll(async () => {
  await Promise.allSettled(members.map((m) => m.close()));
  await admin.deleteTopics([TOPIC]).catch(() => undefined);
  await admin.close();
});

describe('Kafka group member (KIP-848), real broker', () => {
  it('gives a lone member every partition, and splits them when a second joins, handing over only what its owner released', async () => {
    const a = member('split');
    const [onlyA] = await until([a], ([x]) => x?.join() === all.join());
    a.setOwned(onlyA as readonly number[]);

    const b = member('split');
    expect((await b.assignment()).partitions).toEqual([]); // joins; a holds everything still
    // The coordinator takes partitions from a; while a still reports them owned, b gets none of them.
    const [shrunk] = await until([a], ([x]) => (x?.length ?? 0) < PARTITIONS);
    const revoked = all.filter((p) => !(shrunk as readonly number[]).includes(p));
    expect(revoked.length).toBeGreaterThan(0);
    await sleep(1500); // several heartbeats of both
    expect((await b.assignment()).partitions.filter((p) => revoked.includes(p))).toEqual([]);

    // a has checkpointed and released them: now b receives them, and the two cover the topic.
    a.setOwned(shrunk as readonly number[]);
    const [finalA, finalB] = await until([a, b], disjointCover);
    expect(finalA).toEqual(shrunk);
    expect(finalB).toEqual(revoked);
    const epoch = (await b.assignment()).epoch;
    expect(epoch).toBeGreaterThan(0);
  });

  it('hands a leaving member’s partitions to the others well within the session timeout', async () => {
    const a = member('leave', { sessionTimeoutMs: 30_000, heartbeatIntervalMs: 200 });
    const b = member('leave', { sessionTimeoutMs: 30_000, heartbeatIntervalMs: 200 });
    const split = await until([a, b], disjointCover);
    a.setOwned(split[0] as readonly number[]);
    b.setOwned(split[1] as readonly number[]);

    const started = Date.now();
    await a.setOwned([]);
    await a.close();
    await until([b], ([x]) => x?.join() === all.join());
    expect(Date.now() - started).toBeLessThan(10_000);
    await expect(a.assignment()).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('fails with a final error naming the broker bounds when the session timeout is below them', async () => {
    // The run's broker has group.consumer.min.session.timeout.ms = 1000 (libs/testing BROKER_SETTINGS).
    const m = member('bounds', { sessionTimeoutMs: 600, heartbeatIntervalMs: 150 });
    const error = await m.assignment().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LogError);
    expect(error).toMatchObject({ code: 'BROKER', retriable: false });
    expect((error as Error).message).toMatch(/group\.consumer\.\{min,max\}\.session\.timeout\.ms/);
  });

  it('refuses a heartbeat interval that is not below the session timeout, before any request', () => {
    expect(() => member('args', { sessionTimeoutMs: 1000, heartbeatIntervalMs: 1000 })).toThrow(LogError);
  });

  it('rejects the first assignment with a retriable TIMEOUT when no coordinator answers, and keeps trying', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 1));
      });
    });
    const unreachable = createKafkaLog({ brokers: [`127.0.0.1:${port}`], clientId: 'log-group-unreachable' });
    const m = (unreachable.groupMember as NonNullable<typeof unreachable.groupMember>)({
      groupId: `log-group-test.${RUN}.unreachable`,
      topic: TOPIC,
      sessionTimeoutMs: 1500,
      heartbeatIntervalMs: 200,
    });
    members.push(m);
    for (let i = 0; i < 2; i++) {
      await expect(m.assignment()).rejects.toMatchObject({ code: 'TIMEOUT', retriable: true });
    }
  });
});
