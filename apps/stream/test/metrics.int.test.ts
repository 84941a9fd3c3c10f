/**
 * Integration, real Kafka and real PostgreSQL: the stream CLI as an operator runs it (a child
 * process, node with the tsx loader), its operations endpoint scraped over HTTP. One instance
 * consumes a small keyed input with late samples and is stopped; a second one restores from its
 * checkpoints. /metrics must show lag reaching 0, watermarks, keys, the late counter, checkpoint
 * figures and the restore; /readyz answers 200.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createDatabase, dropDatabase } from '@fleet/db';
import { createKafkaLog, type LogAdmin, type LogProducer } from '@fleet/log';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    kafkaBrokers: string;
  }
}

const ROOT = join(import.meta.dirname, '..', '..', '..');
const RUN = randomBytes(4).toString('hex');
const DB_NAME = `stream_metrics_${RUN}`;
const TOPIC = `stream.metrics.${RUN}`;
const JOB = `metrics_${RUN}`;
const PARTITIONS = 2;
const KEYS = 6;
const PER_KEY = 30;
const T0 = Date.UTC(2025, 0, 1);

let databaseUrl: string;
let admin: LogAdmin;
let producer: LogProducer;
const children: ChildProcess[] = [];

interface Instance {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<number | null>;
}

async function start(id: string): Promise<Instance> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLEET_STREAM_')));
  const child = spawn(
    process.execPath,
    [
      '--conditions=@fleet/source',
      '--import',
      'tsx',
      'apps/stream/src/cli.ts',
      ...['--job-name', JOB, '--input', TOPIC, '--instance', id, '--migrate'],
      ...['--brokers', inject('kafkaBrokers'), '--database-url', databaseUrl],
      ...['--checkpoint-ms', '300', '--heartbeat-ms', '300', '--session-timeout-ms', '3000'],
      ...['--http-host', '127.0.0.1', '--http-port', '0'],
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /"event":"started".*"httpPort":(\d+)/.exec(stdout);
      if (m !== null) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`stream exited ${code}: ${stderr}`)));
  });
  return { child, port, exited };
}

async function stop(i: Instance): Promise<void> {
  i.child.kill('SIGTERM');
  expect(await i.exited).toBe(0);
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The Prometheus text format, enough of it: `name{a="x",b="y"} value` lines. */
async function scrape(port: number): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  const out: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-z_:][a-z0-9_:]*)(?:\{(.*)\})? (\S+)$/i.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/([a-z_]+)="([^"]*)"/gi)].map((l) => [l[1] as string, l[2] as string]),
    );
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

const series = (samples: readonly Sample[], name: string) => samples.filter((s) => s.name === name);

/** Scrapes until `done` holds (the instance catches up asynchronously). */
async function scrapeUntil(
  port: number,
  done: (samples: readonly Sample[]) => boolean,
  timeoutMs = 30_000,
): Promise<Sample[]> {
  const deadline = Date.now() + timeoutMs;
  let samples: Sample[] = [];
  while (Date.now() < deadline) {
    samples = await scrape(port);
    if (done(samples)) return samples;
    await sleep(200);
  }
  throw new Error(`metrics did not settle:\n${samples.map((s) => JSON.stringify(s)).join('\n')}`);
}

/** Per key, one sample a second of event time; each key's 25th is 20 s behind (beyond lateness). */
function input(from: number, to: number) {
  const enc = new TextEncoder();
  const records = [];
  for (let i = from; i < to; i++) {
    for (let k = 0; k < KEYS; k++) {
      const t = T0 + i * 1000 - (i === 24 ? 20_000 : 0);
      records.push({ topic: TOPIC, key: `k${k}`, value: enc.encode(JSON.stringify({ t, v: 1 })) });
    }
  }
  return records;
}

const caughtUp = (samples: readonly Sample[]) => {
  const lag = series(samples, 'fleet_stream_input_lag_records');
  const ids = series(samples, 'fleet_stream_checkpoint_id');
  return (
    lag.length === PARTITIONS &&
    lag.every((s) => s.value === 0) &&
    series(samples, 'fleet_stream_keys').reduce((n, s) => n + s.value, 0) === KEYS &&
    ids.length === PARTITIONS &&
    ids.every((s) => s.value > 0)
  );
};

beforeAll(async () => {
  const { url } = await createDatabase(inject('databaseUrl'), DB_NAME);
  databaseUrl = url;
  const log = createKafkaLog({ brokers: inject('kafkaBrokers').split(','), clientId: 'stream-metrics-test' });
  admin = log.admin();
  producer = log.producer();
  await admin.createTopics([{ name: TOPIC, partitions: PARTITIONS }]);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.allSettled([producer?.close(), admin?.deleteTopics([TOPIC])]);
  await admin?.close();
  await dropDatabase(inject('databaseUrl'), DB_NAME);
});

describe('stream CLI operations endpoint', () => {
  it('exports lag, watermark, keys, late samples, checkpoint and restore figures, and is ready', async () => {
    await producer.send(input(0, PER_KEY));
    const first = await start('metrics-a');

    expect((await fetch(`http://127.0.0.1:${first.port}/healthz`)).status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${first.port}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', log: 'ok' } });

    const a = await scrapeUntil(first.port, caughtUp);
    const part = (p: number) => ({ job: JOB, partition: String(p), stream_instance: 'metrics-a' });
    expect(series(a, 'fleet_stream_owned_partitions')).toEqual([
      { name: 'fleet_stream_owned_partitions', labels: { job: JOB, stream_instance: 'metrics-a' }, value: 2 },
    ]);
    expect(series(a, 'fleet_stream_input_lag_records').map((s) => s.labels)).toEqual(
      expect.arrayContaining([0, 1].map((p) => ({ ...part(p), topic: TOPIC }))),
    );
    // Every key's watermark is its max event time - 2 s out-of-orderness; partitions without keys have none.
    for (const s of series(a, 'fleet_stream_watermark_seconds'))
      expect(s.value).toBe((T0 + (PER_KEY - 1) * 1000 - 2000) / 1000);
    // The fresh instance restored from nothing, once per partition.
    expect(series(a, 'fleet_stream_restored_checkpoint_id').map((s) => s.value)).toEqual([0, 0]);
    const restores = series(a, 'fleet_stream_restore_duration_seconds_count');
    expect(restores).toEqual([
      {
        name: 'fleet_stream_restore_duration_seconds_count',
        labels: { job: JOB, stream_instance: 'metrics-a' },
        value: 2,
      },
    ]);
    // One sample per key was beyond the allowed lateness.
    const late = series(a, 'fleet_stream_late_samples_total');
    expect(new Set(late.map((s) => s.labels['reason']))).toEqual(
      new Set(['within_allowed_lateness', 'beyond_allowed_lateness', 'invalid_event_time']),
    );
    const lateBeyond = late.filter((s) => s.labels['reason'] === 'beyond_allowed_lateness');
    expect(lateBeyond.reduce((n, s) => n + s.value, 0)).toBe(KEYS);
    for (const s of series(a, 'fleet_stream_checkpoint_age_seconds')) {
      expect(s.value).toBeGreaterThanOrEqual(0);
      expect(s.value).toBeLessThan(5);
    }
    expect(series(a, 'fleet_stream_checkpoints_total').length).toBeGreaterThanOrEqual(PARTITIONS);
    expect(series(a, 'fleet_stream_checkpoint_duration_seconds_count')[0]?.value).toBeGreaterThanOrEqual(2);
    expect(series(a, 'fleet_stream_checkpoint_bytes_sum')[0]?.value).toBeGreaterThan(0);
    // Open windows hold event-time timers (one per key and window).
    const timers = series(a, 'fleet_stream_pending_timers').filter((s) => s.labels['domain'] === 'event');
    expect(timers.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(KEYS);
    expect(series(a, 'fleet_stream_outbox_pending_rows').map((s) => s.value)).toEqual([0, 0]);
    expect(series(a, 'fleet_stream_fenced_commits_total')).toEqual([]);
    await stop(first);

    // A second instance restores the partitions from the first one's last checkpoints.
    await producer.send(input(PER_KEY, PER_KEY + 5));
    const second = await start('metrics-b');
    const b = await scrapeUntil(second.port, caughtUp);
    expect(series(b, 'fleet_stream_restored_checkpoint_id').every((s) => s.value > 0)).toBe(true);
    expect(series(b, 'fleet_stream_restore_duration_seconds_count')[0]?.value).toBe(2);
    // The late counter is part of the restored task state.
    const lateB = series(b, 'fleet_stream_late_samples_total').filter(
      (s) => s.labels['reason'] === 'beyond_allowed_lateness',
    );
    expect(lateB.reduce((n, s) => n + s.value, 0)).toBe(KEYS);
    expect((await fetch(`http://127.0.0.1:${second.port}/readyz`)).status).toBe(200);
    await stop(second);
  });
});
