/**
 * File-backed log benchmark: durable produce and read throughput of the embedded default's log.
 *
 *   npx tsx --conditions=@fleet/source libs/log/bench/file-log.bench.ts [--records=20000] [--runs=5] [--dir=/tmp/x]
 *
 * Workloads (each run on a fresh topic in a temporary directory on the machine's disk):
 *   produce-batched: records of 4 KiB random bytes keyed by 1,000 robot ids into 8 partitions,
 *                    send() calls of 500 records awaited one after the other: the workload of
 *                    kafka-clients.bench.ts, so the figures compare with the Kafka log's.
 *   produce-concurrent: 200-byte records, 64 callers each awaiting one single-record send() after
 *                    the other (gateway-like: many small acknowledged writes); group commit at work.
 *   read:            the produce-batched topic read from offset 0 by one reader over its 8 partitions.
 * Every send() resolves only after fdatasync. Medians of the runs; writes bench-results/file-log.json.
 */
import { partitionFor } from '@fleet/protocol';
import { randomBytes } from 'node:crypto';
import diagnostics_channel from 'node:diagnostics_channel';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createFileLog,
  FILE_LOG_CHANNELS,
  type FileLogCommitEvent,
  type ProduceRecord,
} from '../src/index.js';

const arg = (name: string, fallback: string): string => {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  return hit === undefined ? fallback : hit.slice(name.length + 3);
};
const RECORDS = Number(arg('records', '20000'));
const RUNS = Number(arg('runs', '5'));
const BASE_DIR = arg('dir', tmpdir());
const PARTITIONS = 8;
const ROBOTS = 1000;
const BATCH = 500;
const VALUE_BYTES = 4096;
const SMALL_BYTES = 200;
const CONCURRENT_CALLERS = 64;
const CONCURRENT_RECORDS = Math.min(RECORDS, 10_000);

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

let commits = 0;
diagnostics_channel.subscribe(FILE_LOG_CHANNELS.commit, (m) => {
  commits += (m as FileLogCommitEvent).records > 0 ? 1 : 0;
});

interface Run {
  readonly batchedMs: number;
  readonly concurrentMs: number;
  readonly concurrentFsyncs: number;
  readonly readMs: number;
}

async function run(): Promise<Run> {
  const dir = await mkdtemp(join(BASE_DIR, 'fleet-file-log-bench-'));
  try {
    const log = createFileLog({ dir });
    const admin = log.admin();
    await admin.createTopics([
      { name: 'batched', partitions: PARTITIONS },
      { name: 'concurrent', partitions: PARTITIONS },
    ]);
    const pool = Array.from({ length: 64 }, () => randomBytes(VALUE_BYTES));
    const records: ProduceRecord[] = Array.from({ length: RECORDS }, (_, i) => ({
      topic: 'batched',
      key: `robot-${(i * 7919) % ROBOTS}`,
      value: pool[i % pool.length] as Buffer,
    }));
    const producer = log.producer();

    let started = performance.now();
    for (let i = 0; i < RECORDS; i += BATCH) await producer.send(records.slice(i, i + BATCH));
    const batchedMs = performance.now() - started;

    const small = randomBytes(SMALL_BYTES);
    let next = 0;
    const before = commits;
    started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENT_CALLERS }, async () => {
        while (next < CONCURRENT_RECORDS) {
          const i = next++;
          await producer.send([{ topic: 'concurrent', key: `robot-${i % ROBOTS}`, value: small }]);
        }
      }),
    );
    const concurrentMs = performance.now() - started;
    const concurrentFsyncs = commits - before;
    await producer.close();

    const reader = log.reader({
      assignments: Array.from({ length: PARTITIONS }, (_, partition) => ({
        topic: 'batched',
        partition,
        offset: 0n,
      })),
      maxWaitMs: 100,
    });
    let read = 0;
    started = performance.now();
    while (read < RECORDS) {
      for (const batch of await reader.poll()) {
        for (const r of batch.records) {
          if (r.partition !== partitionFor(r.key ?? new Uint8Array(), PARTITIONS))
            throw new Error('misrouted record');
        }
        read += batch.records.length;
      }
    }
    const readMs = performance.now() - started;
    await reader.close();
    await admin.close();
    return { batchedMs, concurrentMs, concurrentFsyncs, readMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((x) => +x.toFixed(2));
  await run(); // warm-up, not measured
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await run());
  const rate = (n: number, ms: number): number => Math.round(n / (ms / 1000));
  const batchedMs = median(runs.map((r) => r.batchedMs));
  const concurrentMs = median(runs.map((r) => r.concurrentMs));
  const readMs = median(runs.map((r) => r.readMs));
  const results = {
    produceBatched: {
      medianMs: +batchedMs.toFixed(1),
      recordsPerSec: rate(RECORDS, batchedMs),
      mbPerSec: +((RECORDS * VALUE_BYTES) / 1e6 / (batchedMs / 1000)).toFixed(1),
      runsMs: runs.map((r) => +r.batchedMs.toFixed(1)),
    },
    produceConcurrent: {
      medianMs: +concurrentMs.toFixed(1),
      recordsPerSec: rate(CONCURRENT_RECORDS, concurrentMs),
      medianFsyncs: median(runs.map((r) => r.concurrentFsyncs)),
      runsMs: runs.map((r) => +r.concurrentMs.toFixed(1)),
    },
    read: {
      medianMs: +readMs.toFixed(1),
      recordsPerSec: rate(RECORDS, readMs),
      mbPerSec: +((RECORDS * VALUE_BYTES) / 1e6 / (readMs / 1000)).toFixed(1),
      runsMs: runs.map((r) => +r.readMs.toFixed(1)),
    },
  };
  console.log(`file log, ${RECORDS} records, medians of ${RUNS} runs (every send fsynced):`);
  console.log(
    `  produce, ${BATCH}-record sends of ${VALUE_BYTES} B: ${results.produceBatched.recordsPerSec} records/s (${results.produceBatched.mbPerSec} MB/s)`,
  );
  console.log(
    `  produce, ${CONCURRENT_CALLERS} callers x 1-record sends of ${SMALL_BYTES} B: ${results.produceConcurrent.recordsPerSec} records/s, ${results.produceConcurrent.medianFsyncs} fsyncs for ${CONCURRENT_RECORDS} sends`,
  );
  console.log(
    `  read, 8 partitions from 0: ${results.read.recordsPerSec} records/s (${results.read.mbPerSec} MB/s)`,
  );

  const cpuList = cpus();
  const result = {
    benchmark: 'file-log',
    date: new Date().toISOString(),
    command: 'npx tsx --conditions=@fleet/source libs/log/bench/file-log.bench.ts',
    machine: {
      node: process.version,
      cpuModel: cpuList[0]?.model ?? 'unknown',
      cores: cpuList.length,
      memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
      platform: `${process.platform} ${process.arch}`,
      dataDir: BASE_DIR,
      // Other work on the machine skews every figure.
      loadAvgAtStart: loadAtStart,
      loadAvgAtEnd: loadavg().map((x) => +x.toFixed(2)),
    },
    workload: {
      records: RECORDS,
      valueBytes: VALUE_BYTES,
      partitions: PARTITIONS,
      robots: ROBOTS,
      recordsPerSend: BATCH,
      concurrentCallers: CONCURRENT_CALLERS,
      concurrentRecords: CONCURRENT_RECORDS,
      concurrentValueBytes: SMALL_BYTES,
      durability: 'fdatasync per group commit before send() resolves',
      runs: RUNS,
    },
    results,
  };
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
  const out = join(root, 'bench-results', 'file-log.json');
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  console.error(`wrote ${out}`);
}

await main();
