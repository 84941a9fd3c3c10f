/**
 * The runtime's test job: per key, 1-minute tumbling windows of count and sum over records whose
 * value is `{"t": eventTime, "v": number}` (JSON) and whose key is the window key.
 *
 * Its outputs are a function of each partition's record sequence only, never of processing time or
 * batch boundaries, which is what a failover test compares:
 * - the idle timeout is effectively infinite, so every key stays active: the partition watermark is
 *   the minimum of the keys' own watermarks and E(k) = own(k) = max event time of k − B;
 * - lateness is judged per key against E(k), which depends on k's records in offset order only.
 * Final results (E(k) ≥ end + L) are also sent through the outbox when an outbox topic is given.
 */
import { structCodec, type AggregateFunction } from '@fleet/state';
import { defineJob, tumblingWindows, type RuntimeJob, type WindowResult } from '@fleet/stream-runtime';

export interface CountInput {
  readonly t: number;
  readonly v: number;
}

export interface CountSum {
  readonly count: number;
  readonly sum: number;
}

const FIELDS = ['count', 'sum'] as const;
const aggregate: AggregateFunction<CountInput, Record<(typeof FIELDS)[number], number>, CountSum> = {
  create: () => ({ count: 0, sum: 0 }),
  add(acc, e) {
    acc.count++;
    acc.sum += e.v;
    return acc;
  },
  merge: (a, b) => ({ count: a.count + b.count, sum: a.sum + b.sum }),
  result: (acc) => ({ count: acc.count, sum: acc.sum }),
};

const decoder = new TextDecoder();
const encoder = new TextEncoder();
/** About ten years: no key ever counts as idle, so processing time never moves a watermark. */
const NEVER_IDLE_MS = 10 * 365 * 24 * 3_600_000;

export interface KeyedCountsOptions {
  /** `[a-z][a-z0-9_]*`; prefixes every output id. */
  readonly name: string;
  readonly inputs: readonly string[];
  /** Where final window results are published through the outbox; none when absent. */
  readonly outboxTopic?: string;
  /** Where late elements are published (besides the late-data table); none when absent. */
  readonly lateTopic?: string;
}

export function keyedCountsJob(options: KeyedCountsOptions): RuntimeJob<CountInput> {
  const job = defineJob<CountInput>({
    name: options.name,
    read(record, out) {
      if (record.key === null || !(record.value instanceof Uint8Array)) return;
      const m = JSON.parse(decoder.decode(record.value)) as CountInput;
      out.element(record.key, m.t, m);
    },
    operators: [
      tumblingWindows({ name: 'counts_1m', sizeMs: 60_000, aggregate, accCodec: structCodec(FIELDS) }),
    ],
  });
  const outboxTopic = options.outboxTopic;
  return {
    job,
    inputs: options.inputs,
    eventTime: { outOfOrdernessMs: 2_000, allowedLatenessMs: 5_000, idleTimeoutMs: NEVER_IDLE_MS },
    ...(options.lateTopic === undefined ? {} : { lateData: { topic: options.lateTopic } }),
    ...(outboxTopic === undefined
      ? {}
      : {
          outbox(output) {
            if (output.type !== 'emit') return undefined;
            const r = output.value as WindowResult<CountSum>;
            if (r.kind !== 'final') return undefined;
            return {
              id: `${output.id}#${r.revision}`,
              topic: outboxTopic,
              key: output.key,
              value: encoder.encode(JSON.stringify({ id: output.id, ...r })),
            };
          },
        }),
  };
}
