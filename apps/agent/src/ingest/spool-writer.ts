/**
 * Appends to the spool in arrival order, one class at a time, with group commit: while one
 * `appendMany` is waiting for the disk, whatever arrives queues up and goes in the next one, so a
 * slow fsync makes batches larger, not the queue longer.
 *
 * Failures, by the spool's flags:
 * - SPOOL_FULL (telemetry only: the spool already dropped its oldest telemetry and has none left):
 *   the records are dropped, counted and reported — the spool's stated policy when full;
 * - retriable: the same records are tried again after the retry module's backoff; meanwhile at
 *   most `maxQueued` wait, the oldest telemetry going first when more arrive;
 * - anything else (closed, corrupt, a disk that fails for good): `onFatal`, the agent stops.
 *
 * `write` takes an optional `settled` callback, called once the record is in the spool or dropped
 * for good by one of the policies above (never when the writer failed): the agent's serial
 * position (durable-position.ts) moves on with it.
 */
import type { Clock } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import { errorMessage } from '../errors.js';
import type { Backoff } from '../retry.js';
import { SpoolError, type Spool, type SpoolClass, type SpoolRecord } from '../spool/spool.js';

export interface SpoolWriterOptions {
  readonly spool: Pick<Spool, 'appendMany'>;
  readonly clock: Clock;
  readonly backoff: Backoff;
  /** Records waiting per class before the oldest telemetry is dropped; default 10,000. */
  readonly maxQueued?: number;
  onAppended(records: readonly SpoolRecord[]): void;
  onFatal(error: unknown): void;
}

interface Pending {
  readonly payload: Uint8Array;
  readonly settled: (() => void) | undefined;
}

interface Lane {
  queue: Pending[];
  writing: Promise<void> | undefined;
}

export class SpoolWriter {
  private readonly lanes: Record<SpoolClass, Lane> = {
    telemetry: { queue: [], writing: undefined },
    priority: { queue: [], writing: undefined },
  };
  private failed = false;
  private readonly counts = { appended: 0, droppedFull: 0, droppedQueue: 0, retries: 0 };

  constructor(private readonly options: SpoolWriterOptions) {}

  write(cls: SpoolClass, payload: Uint8Array, settled?: () => void): void {
    if (this.failed) return;
    const lane = this.lanes[cls];
    lane.queue.push({ payload, settled });
    const max = this.options.maxQueued ?? 10_000;
    if (cls === 'telemetry' && lane.queue.length > max) {
      lane.queue.shift()?.settled?.();
      this.counts.droppedQueue++;
    }
    if (lane.writing === undefined) lane.writing = this.run(cls, lane);
  }

  /** Resolves when everything written so far is in the spool (or was dropped). */
  async flush(): Promise<void> {
    await Promise.all([this.lanes.telemetry.writing, this.lanes.priority.writing]);
  }

  stats() {
    return {
      ...this.counts,
      queued: this.lanes.telemetry.queue.length + this.lanes.priority.queue.length,
    };
  }

  private async run(cls: SpoolClass, lane: Lane): Promise<void> {
    try {
      while (lane.queue.length > 0 && !this.failed) {
        const batch = lane.queue;
        lane.queue = [];
        await this.append(cls, lane, batch);
      }
    } finally {
      lane.writing = undefined;
    }
  }

  private async append(cls: SpoolClass, lane: Lane, batch: Pending[]): Promise<void> {
    for (;;) {
      try {
        const records = await this.options.spool.appendMany(
          cls,
          batch.map((p) => p.payload),
        );
        this.counts.appended += records.length;
        this.options.backoff.reset();
        this.options.onAppended(records);
        settle(batch);
        return;
      } catch (e) {
        if (e instanceof SpoolError && e.code === 'SPOOL_FULL' && cls === 'telemetry') {
          this.counts.droppedFull += batch.length;
          emit('spool', 'warn', 'spool_full_dropped', { cls, records: batch.length, error: e.message });
          settle(batch);
          return;
        }
        if (e instanceof SpoolError && e.retriable) {
          this.counts.retries++;
          const delayMs = this.options.backoff.next();
          emit('spool', 'warn', 'spool_append_retry', {
            cls,
            records: batch.length,
            delayMs,
            error: e.message,
          });
          await new Promise<void>((done) => this.options.clock.setTimeout(done, delayMs));
          // What arrived meanwhile goes after this batch; keep the queue bounded.
          const max = this.options.maxQueued ?? 10_000;
          if (cls === 'telemetry' && batch.length + lane.queue.length > max) {
            const excess = batch.length + lane.queue.length - max;
            const fromBatch = Math.min(excess, batch.length);
            settle(batch.splice(0, fromBatch));
            settle(lane.queue.splice(0, excess - fromBatch));
            this.counts.droppedQueue += excess;
          }
          continue;
        }
        this.failed = true;
        emit('spool', 'error', 'spool_append_failed', { cls, records: batch.length, error: errorMessage(e) });
        this.options.onFatal(e);
        return;
      }
    }
  }
}

function settle(records: readonly Pending[]): void {
  for (const r of records) r.settled?.();
}
