/**
 * Helpers for the stream failover tests: stream instances as child processes through the CLI
 * (one node process each, so SIGKILL / SIGSTOP hit the program itself), a deterministic keyed input
 * produced at a steady pace, and readers of what the instances committed to PostgreSQL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { createPool } from '@fleet/db';
import type { LogAdmin, LogProducer } from '@fleet/log';

type Pool = ReturnType<typeof createPool>;

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export interface StreamEvent {
  readonly event: string;
  readonly [field: string]: unknown;
}

export interface StreamProc {
  readonly id: string;
  readonly child: ChildProcess;
  /** Every line written to stdout and stderr. */
  readonly lines: string[];
  readonly exited: Promise<number | null>;
  events(name?: string): StreamEvent[];
}

export interface ClusterOptions {
  readonly brokers: string;
  /** Run on the file-backed log in this folder instead of Kafka. */
  readonly logDir?: string;
  /** Keep keyed state in LevelDB, in a folder per instance below this one. */
  readonly stateDir?: string;
  readonly databaseUrl: string;
  readonly jobName: string;
  readonly input: string;
  readonly outboxTopic?: string;
  readonly lateTopic?: string;
  readonly compactAfterSegments?: number;
  readonly checkpointMs?: number;
  readonly heartbeatMs?: number;
  readonly sessionTimeoutMs?: number;
}

export function startInstance(id: string, o: ClusterOptions): StreamProc {
  const args = [
    '--conditions=@fleet/source',
    '--import',
    'tsx',
    'apps/stream/src/cli.ts',
    // Several instances on one host: each takes a free port for its metrics endpoint.
    '--http-port',
    '0',
    '--job',
    'keyed-counts',
    '--job-name',
    o.jobName,
    '--input',
    o.input,
    '--instance',
    id,
    ...(o.logDir === undefined ? ['--brokers', o.brokers] : ['--log', 'file', '--log-dir', o.logDir]),
    ...(o.stateDir === undefined ? [] : ['--state', 'leveldb', '--state-dir', join(o.stateDir, id)]),
    '--database-url',
    o.databaseUrl,
    '--checkpoint-ms',
    String(o.checkpointMs ?? 500),
    '--heartbeat-ms',
    String(o.heartbeatMs ?? 500),
    '--session-timeout-ms',
    String(o.sessionTimeoutMs ?? 4000),
    ...(o.outboxTopic === undefined ? [] : ['--outbox-topic', o.outboxTopic]),
    ...(o.lateTopic === undefined ? [] : ['--late-topic', o.lateTopic]),
    ...(o.compactAfterSegments === undefined
      ? []
      : ['--compact-after-segments', String(o.compactAfterSegments)]),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    let rest = '';
    stream.on('data', (chunk: Buffer) => {
      const parts = (rest + chunk.toString('utf8')).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
  }
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return {
    id,
    child,
    lines,
    exited,
    events(name) {
      const out: StreamEvent[] = [];
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          const e = JSON.parse(line) as StreamEvent;
          if (name === undefined || e.event === name) out.push(e);
        } catch {
          // not an event line
        }
      }
      return out;
    },
  };
}

/** SIGTERM and wait (final checkpoints, release, leave); SIGKILL if it does not exit in time. */
export async function stopInstance(p: StreamProc, timeoutMs = 20_000): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGCONT');
  p.child.kill('SIGTERM');
  const timer = sleep(timeoutMs).then(() => 'timeout' as const);
  if ((await Promise.race([p.exited, timer])) === 'timeout') {
    p.child.kill('SIGKILL');
    await p.exited;
  }
}

export async function killInstance(p: StreamProc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

/** The deterministic test input: per key `{t, v}` at 1 s of event time, shuffled within 1.5 s, some late. */
export interface InputPlan {
  readonly keys: number;
  readonly perKey: number;
  readonly t0: number;
}

export function* inputRecords(plan: InputPlan): Generator<{ key: string; value: Uint8Array }> {
  const enc = new TextEncoder();
  for (let i = 0; i < plan.perKey; i++) {
    for (let k = 0; k < plan.keys; k++) {
      const h = (i * 7919 + k * 104_729) % 1000;
      // Within the out-of-orderness bound (2 s) mostly; every 37th is 7 s behind (late, within the
      // 5 s allowed lateness: a correction) and every 53rd 20 s behind (beyond it: late data).
      let t = plan.t0 + i * 1000 - Math.floor((h / 1000) * 1500);
      if ((i + k) % 53 === 52) t -= 20_000;
      else if ((i + k) % 37 === 36) t -= 7_000;
      yield { key: `k${k}`, value: enc.encode(JSON.stringify({ t, v: (h % 97) + 1 })) };
    }
  }
}

/** Produces the plan in `chunks` sends spread over `durationMs`; resolves when all are acknowledged. */
export async function produceInput(
  producer: LogProducer,
  topic: string,
  plan: InputPlan,
  durationMs: number,
  chunks: number,
  onChunk?: (n: number) => void,
): Promise<number> {
  const all = [...inputRecords(plan)];
  const size = Math.ceil(all.length / chunks);
  const started = Date.now();
  for (let c = 0; c < chunks; c++) {
    const part = all.slice(c * size, (c + 1) * size);
    if (part.length > 0) await producer.send(part.map((r) => ({ topic, key: r.key, value: r.value })));
    onChunk?.(c);
    const due = started + ((c + 1) * durationMs) / chunks;
    const wait = due - Date.now();
    if (wait > 0) await sleep(wait);
  }
  return all.length;
}

/** Waits until every partition's committed offset is the topic's end offset. */
export async function waitCaughtUp(
  pool: Pool,
  admin: LogAdmin,
  job: string,
  topic: string,
  timeoutMs: number,
): Promise<void> {
  const end = await admin.endOffsets(topic);
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ partition: number; next_offset: string }>(
      'SELECT partition, next_offset::text AS next_offset FROM stream_offsets WHERE job = $1 AND topic = $2',
      [job, topic],
    );
    const at = new Map(rows.map((r) => [r.partition, BigInt(r.next_offset)]));
    const behind = end.filter((e, p) => (at.get(p) ?? 0n) < e).length;
    last = `${behind} of ${end.length} partitions behind (${JSON.stringify(rows)})`;
    if (behind === 0) return;
    await sleep(300);
  }
  throw new Error(`job ${job} did not catch up with ${topic} in ${timeoutMs} ms: ${last}`);
}

/** Everything a job committed, with ids made job-independent, sorted: what two runs must agree on. */
export async function committedOutputs(
  pool: Pool,
  job: string,
): Promise<{
  outputs: string[];
  late: string[];
  outbox: string[];
}> {
  const strip = (id: string) => id.slice(job.length + 1);
  const outputs = await pool.query<{ id: string; kind: string; revision: number; payload: unknown }>(
    'SELECT id, kind, revision, payload FROM stream_outputs WHERE job = $1 ORDER BY id',
    [job],
  );
  const late = await pool.query<{ id: string; reason: string; key: string; event_time: number }>(
    'SELECT id, reason, key, event_time FROM stream_late_data WHERE job = $1 ORDER BY id',
    [job],
  );
  const outbox = await pool.query<{ id: string; key: string; value: Buffer }>(
    'SELECT id, key, value FROM stream_outbox WHERE job = $1 ORDER BY id',
    [job],
  );
  return {
    outputs: outputs.rows.map((r) => `${strip(r.id)} ${r.kind} ${r.revision} ${JSON.stringify(r.payload)}`),
    late: late.rows.map((r) => `${strip(r.id)} ${r.reason} ${r.key} ${r.event_time}`),
    outbox: outbox.rows.map(
      (r) => `${strip(r.id)} ${r.key} ${r.value.toString('utf8').replaceAll(`"${job}/`, '"')}`,
    ),
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}
