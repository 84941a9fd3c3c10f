/**
 * Appends to one partition, with group commit: the records of every append() that arrives while a
 * write + fsync is under way go together in the next one, so N concurrent send() calls cost one
 * fdatasync, not N. One writer per partition per process (a registry keyed by folder, shared by all
 * producers of the process); between processes the partition lock (lock.ts) takes turns.
 *
 * One commit, under the partition lock:
 *  1. catch up with the files (another process may have appended, rolled, or crashed mid-write:
 *     `#sync`), recovering a torn tail by CRC if the files are not as the head says;
 *  2. roll to a new segment if the active one is full;
 *  3. give the records their offsets, frame them, write them at the committed end;
 *  4. append index entries; fdatasync the segment;
 *  5. rewrite the head (the commit point readers go by), release the lock, resolve the callers.
 * Records are readable and acknowledged only after 4: a reader never sees what a crash can take back.
 */
import { fstatSync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { LogError } from '../errors.js';
import type { Offset } from '../log.js';
import type { ResolvedFileLogConfig } from './config.js';
import { commitChannel, maintenanceChannel, recoveryChannel } from './diagnostics.js';
import { encodeFrame, encodeIndexEntry, INDEX_ENTRY_BYTES, type FrameInput, type Head } from './format.js';
import { closeQuietly, dataSync, syncDir, toLogError, writeAllAt } from './io.js';
import { withPartitionLock } from './lock.js';
import { maintainPartition } from './maintenance.js';
import { notifyAppend } from './notify.js';
import {
  HEAD_FILE,
  numericConfig,
  readHead,
  readTopicMeta,
  recoverTail,
  segmentPath,
  writeHead,
} from './partition.js';

export interface Framed extends FrameInput {
  /** frameSize() of the record. */
  readonly size: number;
}

interface Pending {
  readonly records: readonly Framed[];
  readonly resolve: (firstOffset: Offset) => void;
  readonly reject: (error: LogError) => void;
}

interface State {
  readonly headFd: number;
  readonly headIno: number;
  readonly segmentBytes: number;
  readonly maintained: boolean;
  activeBase: Offset;
  logFd: number;
  idxFd: number;
  activeSize: number;
  indexSize: number;
  lastIndexPosition: number;
  nextOffset: Offset;
}

/** Bytes one commit takes at most (more waits for the next); one append always goes whole. */
const MAX_COMMIT_BYTES = 16 * 1024 * 1024;

export class PartitionWriter {
  readonly #config: ResolvedFileLogConfig;
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  #state: State | undefined;
  readonly #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #maintaining = false;
  /** Producers using this writer; at 0 (and idle) it closes its files and leaves the registry. */
  users = 0;

  constructor(config: ResolvedFileLogConfig, topic: string, partition: number) {
    this.#config = config;
    this.topic = topic;
    this.partition = partition;
    this.dir = join(config.dir, topic, String(partition));
  }

  /** Resolves with the offset of the first record once all are durable; they get consecutive offsets. */
  append(records: readonly Framed[]): Promise<Offset> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ records, resolve, reject });
      this.#flushing ??= this.#flush().finally(() => (this.#flushing = undefined));
    });
  }

  /** Resolves when nothing is pending or being written. */
  async idle(): Promise<void> {
    while (this.#flushing !== undefined) await this.#flushing;
  }

  close(): void {
    this.#drop();
  }

  async #flush(): Promise<void> {
    while (this.#pending.length > 0) {
      let bytes = 0;
      let take = 0;
      for (const pending of this.#pending) {
        const size = pending.records.reduce((n, r) => n + r.size, 0);
        if (take > 0 && bytes + size > MAX_COMMIT_BYTES) break;
        bytes += size;
        take++;
      }
      const group = this.#pending.splice(0, take);
      const where = { topic: this.topic, partition: this.partition };
      try {
        const started = performance.now();
        const { firsts, rolled } = await withPartitionLock(this.dir, this.#config.lockTimeoutMs, () =>
          this.#commit(group),
        );
        group.forEach((pending, i) => pending.resolve(firsts[i] ?? 0n));
        notifyAppend(this.dir);
        if (commitChannel.hasSubscribers) {
          commitChannel.publish({
            ...where,
            appends: group.length,
            records: group.reduce((n, g) => n + g.records.length, 0),
            bytes,
            durationMs: performance.now() - started,
          });
        }
        if (rolled && this.#state?.maintained === true) this.#maintain();
      } catch (error) {
        // Whatever the files hold now is checked again (under the lock) before the next write.
        this.#drop();
        const mapped = toLogError(error, `writing to ${this.topic}/${this.partition}`, where);
        for (const pending of group) pending.reject(mapped);
      }
    }
  }

  async #commit(group: readonly Pending[]): Promise<{ firsts: Offset[]; rolled: boolean }> {
    const s = await this.#sync();
    let rolled = false;
    if (s.activeSize >= s.segmentBytes) {
      this.#roll(s);
      rolled = true;
    }
    const total = group.reduce((n, g) => g.records.reduce((m, r) => m + r.size, n), 0);
    const out = Buffer.allocUnsafe(total);
    const index: number[] = [];
    const firsts: Offset[] = [];
    let at = 0;
    let offset = s.nextOffset;
    let lastIndexPosition = s.lastIndexPosition;
    for (const pending of group) {
      firsts.push(offset);
      for (const record of pending.records) {
        const position = s.activeSize + at;
        if (position - lastIndexPosition >= this.#config.indexIntervalBytes) {
          index.push(Number(offset - s.activeBase), position);
          lastIndexPosition = position;
        }
        at = encodeFrame(record, offset, out, at);
        offset++;
      }
    }
    await writeAllAt(s.logFd, out, s.activeSize);
    if (index.length > 0) {
      const entries = Buffer.allocUnsafe((index.length / 2) * INDEX_ENTRY_BYTES);
      for (let i = 0; i < index.length; i += 2) {
        encodeIndexEntry(index[i] ?? 0, index[i + 1] ?? 0, entries, (i / 2) * INDEX_ENTRY_BYTES);
      }
      writeSync(s.idxFd, entries, 0, entries.length, s.indexSize);
      s.indexSize += entries.length;
    }
    await dataSync(s.logFd);
    s.activeSize += total;
    s.nextOffset = offset;
    s.lastIndexPosition = lastIndexPosition;
    writeHead(s.headFd, s);
    return { firsts, rolled };
  }

  /** Brings the cached state in line with the files (called under the lock). */
  async #sync(): Promise<State> {
    const headPath = join(this.dir, HEAD_FILE);
    const ino = statSync(headPath).ino; // ENOENT: the topic is gone (NOT_FOUND)
    const s = this.#state;
    if (s === undefined || s.headIno !== ino) return this.#load();
    const head = readHead(s.headFd, this);
    if (head.activeBase !== s.activeBase) return this.#load();
    if (head.nextOffset !== s.nextOffset || head.activeSize !== s.activeSize) {
      // Another process appended: adopt its committed end and its index entries.
      s.nextOffset = head.nextOffset;
      s.activeSize = head.activeSize;
      const indexBytes = fstatSync(s.idxFd).size;
      s.indexSize = indexBytes - (indexBytes % INDEX_ENTRY_BYTES);
      s.lastIndexPosition = 0;
      if (s.indexSize > 0) {
        const last = Buffer.alloc(INDEX_ENTRY_BYTES);
        readSync(s.idxFd, last, 0, INDEX_ENTRY_BYTES, s.indexSize - INDEX_ENTRY_BYTES);
        s.lastIndexPosition = last.readUInt32BE(4);
      }
    }
    // Bytes past the committed end: a write that failed or a writer that died before its head
    // update. Recovery keeps what is whole and cuts the rest.
    if (fstatSync(s.logFd).size !== s.activeSize) return this.#load();
    return s;
  }

  /** Opens the partition afresh and recovers its tail (see recoverTail). */
  async #load(): Promise<State> {
    this.#drop();
    const meta = readTopicMeta(this.#config.dir, this.topic);
    const headFd = openSync(join(this.dir, HEAD_FILE), 'r+');
    try {
      let head: Head | undefined;
      try {
        head = readHead(headFd, this);
      } catch {
        head = undefined; // damaged: the segments say where the log ends
      }
      const recovered = await recoverTail(this.dir, head);
      if (recoveryChannel.hasSubscribers) {
        recoveryChannel.publish({
          topic: this.topic,
          partition: this.partition,
          segment: recovered.base,
          adoptedRecords: recovered.adoptedRecords,
          truncatedBytes: recovered.truncatedBytes,
          nextOffset: recovered.nextOffset,
        });
      }
      const state: State = {
        headFd,
        headIno: fstatSync(headFd).ino,
        segmentBytes:
          numericConfig(meta, 'segment.bytes', this.#config.segmentBytes) ?? this.#config.segmentBytes,
        maintained:
          meta.compacted ||
          meta.config['retention.ms'] !== undefined ||
          meta.config['retention.bytes'] !== undefined,
        activeBase: recovered.base,
        logFd: openSync(segmentPath(this.dir, recovered.base, 'log'), 'r+'),
        idxFd: openSync(segmentPath(this.dir, recovered.base, 'idx'), 'r+'),
        activeSize: recovered.size,
        indexSize: recovered.indexSize,
        lastIndexPosition: recovered.lastIndexPosition,
        nextOffset: recovered.nextOffset,
      };
      writeHead(headFd, state);
      this.#state = state;
      return state;
    } catch (error) {
      if (this.#state === undefined) closeQuietly(headFd);
      throw error;
    }
  }

  /**
   * Closes the active segment and starts `<nextOffset>.log`. The new file's folder entry is made
   * durable, and the head names it, before anything is written to it.
   */
  #roll(s: State): void {
    const base = s.nextOffset;
    const logFd = openSync(segmentPath(this.dir, base, 'log'), 'w+');
    const idxFd = openSync(segmentPath(this.dir, base, 'idx'), 'w+');
    syncDir(this.dir);
    closeQuietly(s.logFd);
    closeQuietly(s.idxFd);
    s.logFd = logFd;
    s.idxFd = idxFd;
    s.activeBase = base;
    s.activeSize = 0;
    s.indexSize = 0;
    s.lastIndexPosition = 0;
    writeHead(s.headFd, s);
  }

  /** Compaction / retention after a roll, in the background; failures are reported, and retried at the next roll. */
  #maintain(): void {
    if (this.#maintaining) return;
    this.#maintaining = true;
    maintainPartition(this.#config, this.topic, this.partition)
      .catch((error: unknown) => {
        if (maintenanceChannel.hasSubscribers) {
          maintenanceChannel.publish({
            topic: this.topic,
            partition: this.partition,
            action: 'compaction',
            segmentsRewritten: 0,
            segmentsDeleted: 0,
            recordsRemoved: 0,
            error: toLogError(error, `maintaining ${this.topic}/${this.partition}`, this),
          });
        }
      })
      .finally(() => (this.#maintaining = false));
  }

  #drop(): void {
    const s = this.#state;
    this.#state = undefined;
    if (s === undefined) return;
    closeQuietly(s.headFd);
    closeQuietly(s.logFd);
    closeQuietly(s.idxFd);
  }
}

const registry = new Map<string, PartitionWriter>();

/** The process's writer of a partition; pair with releaseWriter. */
export function acquireWriter(
  config: ResolvedFileLogConfig,
  topic: string,
  partition: number,
): PartitionWriter {
  const key = join(config.dir, topic, String(partition));
  let writer = registry.get(key);
  if (writer === undefined) registry.set(key, (writer = new PartitionWriter(config, topic, partition)));
  writer.users++;
  return writer;
}

export async function releaseWriter(writer: PartitionWriter): Promise<void> {
  writer.users--;
  await writer.idle();
  if (writer.users === 0 && registry.get(writer.dir) === writer) {
    registry.delete(writer.dir);
    writer.close();
  }
}
