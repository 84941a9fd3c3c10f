import { fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { LogError } from '../errors.js';
import type {
  LogReader,
  LogRecord,
  Offset,
  ReaderOptions,
  RecordBatch,
  TopicPartitionOffset,
} from '../log.js';
import type { ResolvedFileLogConfig } from './config.js';
import { decodeFrame, type Head } from './format.js';
import { closeQuietly, errno, readAt, toLogError } from './io.js';
import { onAppend } from './notify.js';
import {
  HEAD_FILE,
  listSegments,
  partitionDir,
  readHead,
  readTopicMeta,
  segmentPath,
  startPosition,
} from './partition.js';
import { Positions, positionKey, type Position } from '../positions.js';

/** An open segment and where the last read of it ended. */
interface Cursor {
  readonly base: Offset;
  readonly fd: number;
  position: number;
  /** The offset a read continuing at `position` would return first. */
  nextOffset: Offset;
}

/** What a reader keeps open per partition: the head, the segment listing, one segment. */
class PartitionView {
  readonly dir: string;
  readonly headFd: number;
  segments: Offset[] = [];
  cursor: Cursor | undefined;

  constructor(
    readonly topic: string,
    readonly partition: number,
    root: string,
  ) {
    const meta = readTopicMeta(root, topic);
    if (partition >= meta.partitions) {
      throw new LogError('NOT_FOUND', `unknown topic or partition ${topic}/${partition}`, {
        topic,
        partition,
      });
    }
    this.dir = partitionDir(root, topic, partition);
    this.headFd = openSync(join(this.dir, HEAD_FILE), 'r');
    this.refresh();
  }

  /** The head, or undefined when the topic was deleted under us. */
  head(): Head | undefined {
    if (fstatSync(this.headFd).nlink === 0) return undefined;
    return readHead(this.headFd, this);
  }

  refresh(): void {
    this.segments = listSegments(this.dir);
  }

  /** Index in `segments` of the segment holding `offset`, or -1 below the first. */
  segmentFor(offset: Offset): number {
    for (let i = this.segments.length - 1; i >= 0; i--) if ((this.segments[i] ?? 0n) <= offset) return i;
    return -1;
  }

  open(base: Offset): Cursor {
    if (this.cursor?.base === base) return this.cursor;
    const fd = openSync(segmentPath(this.dir, base, 'log'), 'r');
    this.closeCursor();
    this.cursor = { base, fd, position: 0, nextOffset: base };
    return this.cursor;
  }

  closeCursor(): void {
    closeQuietly(this.cursor?.fd);
    this.cursor = undefined;
  }

  close(): void {
    this.closeCursor();
    closeQuietly(this.headFd);
  }
}

/**
 * Reads assigned partitions of the file-backed log at caller-owned offsets, with the Kafka reader's
 * semantics: records up to the head's high watermark only (what is fsynced), OFFSET_OUT_OF_RANGE
 * outside [begin, end], a long poll of up to `maxWaitMs`, at least one record per partition
 * whatever `maxBytesPerPartition` says.
 */
export class FileLogReader implements LogReader {
  readonly #config: ResolvedFileLogConfig;
  readonly #positions = new Positions();
  readonly #views = new Map<string, PartitionView>();
  readonly #maxWaitMs: number;
  readonly #maxBytes: number;
  readonly #maxBytesPerPartition: number;
  #polling = false;
  #closed = false;
  #rotation = 0;
  #wake: (() => void) | undefined;

  constructor(config: ResolvedFileLogConfig, options: ReaderOptions = {}) {
    this.#config = config;
    this.#maxWaitMs = options.maxWaitMs ?? 500;
    this.#maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
    this.#maxBytesPerPartition = options.maxBytesPerPartition ?? 1024 * 1024;
    this.assign(options.assignments ?? []);
  }

  assign(assignments: readonly TopicPartitionOffset[]): void {
    this.#open();
    this.#positions.assign(assignments);
    for (const [key, view] of this.#views) {
      if (!this.#positions.has(key)) {
        view.close();
        this.#views.delete(key);
      }
    }
  }

  seek(position: TopicPartitionOffset): void {
    this.#open();
    this.#positions.seek(position);
  }

  position(): readonly TopicPartitionOffset[] {
    return this.#positions.list();
  }

  async poll(): Promise<readonly RecordBatch[]> {
    this.#open();
    if (this.#polling)
      throw new LogError('INVALID_ARGUMENT', 'poll() called while another poll() is running');
    this.#polling = true;
    try {
      const deadline = Date.now() + this.#maxWaitMs;
      for (;;) {
        const batches = await this.#round();
        if (batches.length > 0) return batches;
        const left = deadline - Date.now();
        if (left <= 0 || this.#closed) return [];
        await this.#wait(Math.min(left, this.#config.pollIntervalMs));
        if (this.#closed) return [];
      }
    } finally {
      this.#polling = false;
    }
  }

  async *batches(): AsyncIterable<readonly RecordBatch[]> {
    while (!this.#closed) {
      const round = await this.poll();
      if (round.length > 0) yield round;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    while (this.#polling) await new Promise((resolve) => setTimeout(resolve, 1));
    for (const view of this.#views.values()) view.close();
    this.#views.clear();
  }

  /** Until a writer of this process commits to an assigned partition, or `ms` pass, or close(). */
  #wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const dirs = [...this.#positions.values()].map((p) =>
        partitionDir(this.#config.dir, p.topic, p.partition),
      );
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      const unsubscribe = onAppend(dirs, done);
      this.#wake = done;
    });
  }

  /** One look at every assigned partition, starting with a different one each time (fairness). */
  async #round(): Promise<RecordBatch[]> {
    const positions = [...this.#positions.values()].map((p) => ({ ...p }));
    if (positions.length === 0) return [];
    const start = this.#rotation++ % positions.length;
    const batches: RecordBatch[] = [];
    let budget = this.#maxBytes;
    for (let i = 0; i < positions.length && budget > 0; i++) {
      const asked = positions[(start + i) % positions.length] as Position;
      const key = positionKey(asked.topic, asked.partition);
      const result = await this.#read(asked, Math.min(budget, this.#maxBytesPerPartition));
      const live = this.#positions.get(key);
      // Reassigned or moved by seek() while this read ran: its records are for the old offset.
      if (result === undefined || live === undefined || live.generation !== asked.generation) continue;
      live.offset = result.batch.nextOffset;
      budget -= result.bytes;
      if (result.batch.records.length > 0) batches.push(result.batch);
    }
    return batches;
  }

  #view(topic: string, partition: number): PartitionView {
    const key = positionKey(topic, partition);
    let view = this.#views.get(key);
    if (view === undefined) {
      try {
        view = new PartitionView(topic, partition, this.#config.dir);
      } catch (error) {
        throw toLogError(error, `reading ${topic}/${partition}`, { topic, partition });
      }
      this.#views.set(key, view);
    }
    return view;
  }

  /** Records of one partition from `at.offset`, or undefined when there is nothing new. */
  async #read(at: Position, maxBytes: number): Promise<{ batch: RecordBatch; bytes: number } | undefined> {
    const { topic, partition } = at;
    const where = { topic, partition };
    let view = this.#view(topic, partition);
    let head = view.head();
    if (head === undefined) {
      // Deleted (and maybe created again): look again from scratch.
      view.close();
      this.#views.delete(positionKey(topic, partition));
      view = this.#view(topic, partition);
      head = view.head();
      if (head === undefined) throw new LogError('NOT_FOUND', `unknown topic ${topic}`, where);
    }
    const outOfRange = (): LogError =>
      new LogError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${at.offset} of ${topic}/${partition} is outside the stored range ` +
          `[${view.segments[0] ?? 0n}, ${head.nextOffset}]`,
        where,
      );
    if (at.offset > head.nextOffset) throw outOfRange();
    if (at.offset === head.nextOffset) return undefined;

    let from = at.offset;
    let index = view.segmentFor(from);
    if (index < 0 || view.segments[view.segments.length - 1] !== head.activeBase) {
      view.refresh();
      index = view.segmentFor(from);
    }
    if (index < 0) throw outOfRange();
    try {
      // Walk segments until records are found; closed segments may be empty past `from` (compaction).
      for (;;) {
        const base = view.segments[index];
        if (base === undefined) return undefined;
        const active = base === head.activeBase;
        let cursor: Cursor;
        try {
          cursor = view.open(base);
        } catch (error) {
          if (errno(error) !== 'ENOENT') throw error;
          // Removed by retention since the listing: the offset may be gone.
          view.refresh();
          index = view.segmentFor(from);
          if (index < 0 || view.segments[index] === base) throw outOfRange();
          continue;
        }
        const limit = active ? head.activeSize : fstatSync(cursor.fd).size;
        if (cursor.nextOffset !== from || cursor.position > limit) {
          cursor.position = startPosition(view.dir, base, cursor.fd, limit, from);
          cursor.nextOffset = from;
        }
        const found = await this.#readSegment(cursor, from, limit, head.nextOffset, maxBytes, where);
        if (found.records.length > 0) {
          return {
            batch: {
              topic,
              partition,
              records: found.records,
              nextOffset: cursor.nextOffset,
              highWatermark: head.nextOffset,
            },
            bytes: found.bytes,
          };
        }
        if (active) return undefined;
        // The rest of this closed segment was compacted away: continue at the next one.
        if (index + 1 >= view.segments.length) view.refresh();
        const next = view.segments[index + 1];
        if (next === undefined) return undefined;
        from = next;
        index++;
        if (from >= head.nextOffset) {
          return {
            batch: { topic, partition, records: [], nextOffset: from, highWatermark: head.nextOffset },
            bytes: 0,
          };
        }
      }
    } catch (error) {
      view.closeCursor();
      throw toLogError(error, `reading ${topic}/${partition}`, where);
    }
  }

  /**
   * Reads frames from the cursor up to `limit` bytes of the segment, returning those at `from` and
   * after (below the high watermark), at most `maxBytes` of them but at least one.
   */
  async #readSegment(
    cursor: Cursor,
    from: Offset,
    limit: number,
    highWatermark: Offset,
    maxBytes: number,
    where: { readonly topic: string; readonly partition: number },
  ): Promise<{ records: LogRecord[]; bytes: number }> {
    const records: LogRecord[] = [];
    let bytes = 0;
    while (cursor.position < limit && records.length === 0) {
      let size = Math.min(limit - cursor.position, Math.max(maxBytes, 64 * 1024));
      let buf = Buffer.allocUnsafe(size);
      let read = await readAt(cursor.fd, buf, size, cursor.position);
      let at = 0;
      for (;;) {
        const decoded = decodeFrame(buf.subarray(0, read), at);
        if (decoded.kind === 'corrupt') {
          throw new LogError(
            'BROKER',
            `${where.topic}/${where.partition}: damaged record at byte ${cursor.position + at} of segment ${cursor.base} (${decoded.reason})`,
            where,
          );
        }
        if (decoded.kind === 'incomplete') {
          if (at > 0 || read < size) break; // next chunk (or, past the limit, nothing more)
          // One frame larger than the chunk: read it whole (a reader always gets at least one record).
          size = Math.min(limit - cursor.position, decoded.needed);
          buf = Buffer.allocUnsafe(size);
          read = await readAt(cursor.fd, buf, size, cursor.position);
          if (read < decoded.needed) break;
          continue;
        }
        const { frame } = decoded;
        if (frame.offset >= highWatermark) {
          cursor.position = limit; // nothing readable past here
          return { records, bytes };
        }
        const frameBytes = decoded.end - at;
        if (frame.offset >= from) {
          if (records.length > 0 && bytes + frameBytes > maxBytes) return { records, bytes };
          records.push({ ...where, ...frame });
          bytes += frameBytes;
        }
        at = decoded.end;
        cursor.position += frameBytes;
        cursor.nextOffset = frame.offset + 1n;
      }
      if (at === 0) break;
    }
    return { records, bytes };
  }

  #open(): void {
    if (this.#closed) throw new LogError('CLOSED', 'log reader is closed');
  }
}
