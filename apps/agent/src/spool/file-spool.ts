/**
 * The file spool: `Spool` (spool.ts) on a local disk that may lose power at any instant, for an
 * agent that may be killed with -9 at any instant.
 *
 * ## What a resolved `append` guarantees (the fsync policy)
 *
 * An append resolves only after its record was written with write(2) into the segment file, so
 * under EVERY policy a resolved record survives kill -9 of the agent: the bytes are in the kernel's
 * page cache, which outlives the process. What differs is power loss (or a kernel crash):
 *
 * | `fsync`    | a resolved append survives power loss                                              |
 * |------------|------------------------------------------------------------------------------------|
 * | `always`   | yes: the segment was fdatasync'ed (and, for a new segment file, its directory      |
 * |            | fsync'ed) before the append resolved. One fsync per group commit, not per record.  |
 * | `interval` | once `fsyncIntervalMs` (default 1000) has passed since it resolved, plus the time  |
 * |            | one fsync takes (the timer's sync runs before any other queued work): at most the  |
 * |            | appends of the last interval can be lost. `close()` syncs too.                     |
 * | `never`    | whenever the OS writes its dirty pages back (Linux: typically within ~30 s); the   |
 * |            | spool never calls fsync.                                                           |
 *
 * "Stable storage" is as stable as the device makes it: fdatasync sends a cache flush, and a card
 * that acknowledges a flush it did not do (some cheap SD cards) weakens `always` to `interval`-like.
 *
 * Whatever is lost is lost from the tail: records are framed with a CRC, and on open a torn tail is
 * cut off and counted (`corruptRecords`), never handed out. Acknowledgements and segment deletions
 * are never fsynced under any policy: after a power loss the last acks may be forgotten and those
 * records are published again — duplicates, which QoS 1 allows and the cloud removes by
 * (robot, boot, seq). Nothing acknowledged is ever needed again, so nothing can be lost that way.
 * Ids come from a lease recorded (and fsynced unless `never`) in `spool.meta` before any id of it is
 * handed out, so ids stay unique and increasing across restarts, even across a power loss.
 *
 * ## Group commit
 *
 * Appends are queued; one worker takes everything queued at once: one write(2) per class (per
 * segment, when the batch crosses a segment boundary) and, with `always`, one fdatasync per
 * segment written. Whatever arrives while the disk is busy goes in the next batch, so a slow fsync
 * makes batches larger rather than the queue longer.
 *
 * ## Bounds
 *
 * `maxBytes` bounds the bytes of records in segment files of both classes (acknowledged records
 * count until their segment file is deleted; the 16-byte segment headers, the ack logs — 8 bytes per
 * acknowledged id — and the 128-byte meta file are not counted). When an append would go over it,
 * whole telemetry segments are dropped, oldest first, and their unacknowledged records counted in
 * `droppedTelemetry` (persisted). Priority records are never dropped; they are capped by
 * `priorityMaxBytes` (default `maxBytes`), above which a priority append rejects with SPOOL_FULL.
 * A telemetry append rejects with SPOOL_FULL only when priority records alone leave it no room.
 *
 * All file work runs on one worker, in order, so no two operations touch a file at once; see
 * README.md for the on-disk layout and format.ts for the bytes.
 *
 * @example
 * const spool = await openFileSpool({ dir: '/var/lib/fleet-agent/spool', maxBytes: 256 << 20, fsync: 'interval' });
 * const record = await spool.append('telemetry', payload);
 * const batch = await spool.peek('telemetry', 100);
 * await spool.ack(batch.map((r) => r.id));
 * await spool.close();
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock, type TimerHandle } from '../clock/clock.js';
import { emit } from '../diagnostics.js';
import {
  decodeRecord,
  encodeAckBatch,
  encodeRecord,
  encodeSegmentHeader,
  MAX_ACK_BATCH,
  MAX_RECORD_BYTES,
  recordBytes,
  scanSegment,
  SEGMENT_HEADER_BYTES,
} from './format.js';
import { ioError, readFully, syncDirectory, unlinkIfExists, writeFully } from './io.js';
import { lockDirectory, type DirectoryLock } from './lock.js';
import { MetaFile } from './meta-file.js';
import { recoverSegments } from './recover.js';
import { Segment } from './segment.js';
import { SegmentCache } from './segment-cache.js';
import { SpoolError, type Spool, type SpoolClass, type SpoolRecord, type SpoolStats } from './spool.js';

export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface FileSpoolOptions {
  /** Directory of the spool; created if missing. One process at a time (a `LOCK` file). */
  readonly dir: string;
  /** Bound on record bytes of both classes; see "Bounds" above. */
  readonly maxBytes: number;
  /** Bound on priority record bytes; default `maxBytes`. May exceed `maxBytes`. */
  readonly priorityMaxBytes?: number;
  readonly fsync: FsyncPolicy;
  /** With `fsync: 'interval'`: how long a resolved append may wait for its fsync; default 1000 ms. */
  readonly fsyncIntervalMs?: number;
  /**
   * A segment file is closed for appends once it would grow past this; it is also the unit in which
   * telemetry is dropped when the spool is full. Default: maxBytes / 16, between 4 KiB and 1 MiB.
   */
  readonly segmentBytes?: number;
  /** Timers for the `interval` fsync; default the host's. */
  readonly clock?: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

/** Ids reserved per write of spool.meta. */
const ID_LEASE = 1 << 20;
/** Sealed segments whose per-record index stays in memory (the active ones always do). */
const MAX_LOADED_INDEXES = 8;
/** Sealed segments kept open for reading. */
const MAX_READ_HANDLES = 8;
const CLASSES: readonly SpoolClass[] = ['priority', 'telemetry'];

interface AppendRequest {
  readonly cls: SpoolClass;
  readonly payloads: readonly Uint8Array[];
  /** Record bytes the payloads take. */
  readonly bytes: number;
  readonly resolve: (records: readonly SpoolRecord[]) => void;
  readonly reject: (error: unknown) => void;
}

interface AckRequest {
  readonly ids: readonly bigint[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

interface PeekRequest {
  readonly cls: SpoolClass;
  readonly max: number;
  readonly afterId: number;
  readonly resolve: (records: readonly SpoolRecord[]) => void;
  readonly reject: (error: unknown) => void;
}

/** Where one group commit puts records in one segment file. */
interface Chunk {
  readonly segment: Segment;
  readonly created: boolean;
  /** File offset where this chunk's bytes go (0 for a new file: the header comes first). */
  readonly start: number;
  end: number;
  readonly ids: number[];
  readonly offsets: number[];
  readonly payloads: Uint8Array[];
}

/**
 * Opens (creating if needed) the spool in `options.dir`, recovering what a crash left: see
 * recover.ts. Rejects with SPOOL_IO when the directory cannot be used or another live process
 * holds it.
 */
export async function openFileSpool(options: FileSpoolOptions): Promise<FileSpool> {
  const settings = validate(options);
  const sync = settings.fsync !== 'never';
  const started = performance.now();
  try {
    await mkdir(settings.dir, { recursive: true });
  } catch (e) {
    throw ioError(`create ${settings.dir}`, e);
  }
  const lock = await lockDirectory(settings.dir);
  let meta: MetaFile | undefined;
  try {
    const recovered = await recoverSegments(settings.dir, sync);
    const opened = await MetaFile.open(settings.dir, sync);
    meta = opened.file;
    const nextId = Math.max(meta.current.leaseEnd, recovered.maxId + 1);
    await meta.update({
      leaseEnd: nextId + ID_LEASE,
      corruptRecords: meta.current.corruptRecords + recovered.tornTails,
    });
    const spool = new SegmentedFileSpool(settings, lock, meta, recovered.segments, nextId);
    const s = spool.stats();
    emit('spool', 'info', 'opened', {
      dir: settings.dir,
      fsync: settings.fsync,
      telemetry: s.records.telemetry,
      priority: s.records.priority,
      bytes: s.bytes,
      nextId,
      tornTails: recovered.tornTails,
      durationMs: Math.round(performance.now() - started),
    });
    return spool;
  } catch (e) {
    await meta?.close().catch(() => undefined);
    await lock.release();
    throw ioError(`open spool ${settings.dir}`, e);
  }
}

/** `SpoolStats` plus what only a file spool knows. */
export interface FileSpoolStats extends SpoolStats {
  readonly priorityMaxBytes: number;
  readonly corruptRecords: number;
  /** Segment files holding records now. */
  readonly segments: number;
}

export interface FileSpool extends Spool {
  stats(): FileSpoolStats;
}

interface Settings {
  readonly dir: string;
  readonly maxBytes: number;
  readonly priorityMaxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly fsyncIntervalMs: number;
  readonly segmentBytes: number;
  readonly clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

function validate(options: FileSpoolOptions): Settings {
  const positive = (name: string, value: number): number => {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new RangeError(`spool ${name} must be a positive integer, got ${value}`);
    return value;
  };
  if (!['always', 'interval', 'never'].includes(options.fsync)) {
    throw new RangeError(`spool fsync must be always, interval or never, got ${String(options.fsync)}`);
  }
  const maxBytes = positive('maxBytes', options.maxBytes);
  const segmentBytes = positive(
    'segmentBytes',
    options.segmentBytes ?? Math.min(1 << 20, Math.max(4096, Math.floor(maxBytes / 16))),
  );
  if (segmentBytes > 0xffff_ffff) throw new RangeError('spool segmentBytes must be below 4 GiB');
  return {
    dir: options.dir,
    maxBytes,
    priorityMaxBytes: positive('priorityMaxBytes', options.priorityMaxBytes ?? maxBytes),
    fsync: options.fsync,
    fsyncIntervalMs: positive('fsyncIntervalMs', options.fsyncIntervalMs ?? 1000),
    segmentBytes,
    clock: options.clock ?? systemClock,
  };
}

/** Waits for all of `promises` (none is left running), then throws the first failure if any. */
async function settleAll(promises: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}

function closedError(): SpoolError {
  return new SpoolError('SPOOL_CLOSED', 'the spool is closed', false);
}

function isClass(cls: unknown): cls is SpoolClass {
  return cls === 'telemetry' || cls === 'priority';
}

class SegmentedFileSpool implements FileSpool {
  private readonly segments: Record<SpoolClass, Segment[]>;
  private readonly bytes: Record<SpoolClass, number> = { telemetry: 0, priority: 0 };
  private readonly unacked: Record<SpoolClass, number> = { telemetry: 0, priority: 0 };
  private appended = 0;
  private acknowledged = 0;

  private appends: AppendRequest[] = [];
  private acks: AckRequest[] = [];
  private peeks: PeekRequest[] = [];
  private syncDue = false;
  private running = false;
  private idleWaiters: (() => void)[] = [];
  private closed = false;
  private closing: Promise<void> | undefined;

  /** Segments written since their last fsync (`interval`); their handles stay open until synced. */
  private readonly dirty = new Set<Segment>();
  /** A segment file was created since the directory was last synced (`interval`). */
  private dirDirty = false;
  private syncTimer: TimerHandle | undefined;
  /** A background fsync failed; the next append reports it. */
  private deferredError: SpoolError | undefined;
  /** `interval`: an fsync of dirty segments is under way. */
  private syncing = false;
  /** `durable()` calls the next interval fsync answers. */
  private durableWaiters: ((durable: boolean) => void)[] = [];
  private readonly cache = new SegmentCache(MAX_LOADED_INDEXES, MAX_READ_HANDLES, (segment, e) =>
    this.reportIo('close', segment.path, e),
  );

  constructor(
    private readonly settings: Settings,
    private readonly lock: DirectoryLock,
    private readonly meta: MetaFile,
    segments: Record<SpoolClass, Segment[]>,
    private nextId: number,
  ) {
    this.segments = segments;
    for (const cls of CLASSES) {
      for (const segment of segments[cls]) {
        this.bytes[cls] += segment.recordBytes;
        this.unacked[cls] += segment.unacked;
        if (segment.indexLoaded) this.cache.usedIndex(segment);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Spool

  async append(cls: SpoolClass, payload: Uint8Array): Promise<SpoolRecord> {
    const [record] = await this.appendMany(cls, [payload]);
    if (record === undefined) throw new SpoolError('SPOOL_IO', 'append produced no record', false);
    return record;
  }

  appendMany(cls: SpoolClass, payloads: readonly Uint8Array[]): Promise<readonly SpoolRecord[]> {
    if (this.closed) return Promise.reject(closedError());
    if (!isClass(cls)) return Promise.reject(new TypeError(`unknown spool class ${String(cls)}`));
    if (this.deferredError !== undefined) {
      const error = this.deferredError;
      this.deferredError = undefined;
      return Promise.reject(error);
    }
    if (payloads.length === 0) return Promise.resolve([]);
    let bytes = 0;
    for (const payload of payloads) {
      if (payload.byteLength > MAX_RECORD_BYTES) {
        return Promise.reject(
          new SpoolError(
            'SPOOL_FULL',
            `a record of ${payload.byteLength} bytes is over the ${MAX_RECORD_BYTES}-byte limit`,
            false,
          ),
        );
      }
      bytes += recordBytes(payload.byteLength);
    }
    return new Promise((resolve, reject) => {
      this.appends.push({ cls, payloads: [...payloads], bytes, resolve, reject });
      this.kick();
    });
  }

  peek(cls: SpoolClass, max: number, afterId?: bigint): Promise<readonly SpoolRecord[]> {
    if (this.closed) return Promise.reject(closedError());
    if (!isClass(cls)) return Promise.reject(new TypeError(`unknown spool class ${String(cls)}`));
    if (!(max >= 1)) return Promise.resolve([]);
    const after =
      afterId === undefined || afterId < 0n
        ? 0
        : afterId > BigInt(Number.MAX_SAFE_INTEGER)
          ? Infinity
          : Number(afterId);
    if (after === Infinity) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.peeks.push({ cls, max: Math.floor(max), afterId: after, resolve, reject });
      this.kick();
    });
  }

  ack(ids: readonly bigint[]): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (ids.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.acks.push({ ids, resolve, reject });
      this.kick();
    });
  }

  durable(): Promise<boolean> {
    if (this.closed) return Promise.reject(closedError());
    switch (this.settings.fsync) {
      case 'always':
        return Promise.resolve(true); // a resolved append was synced before it resolved
      case 'never':
        return Promise.resolve(false);
      case 'interval':
        // A resolved append marked its segment dirty before it resolved, so it is either still
        // dirty (the next sync covers it) or in the sync under way; with neither, it is synced.
        if (!this.syncing && this.dirty.size === 0 && !this.dirDirty) return Promise.resolve(true);
        return new Promise((resolve) => this.durableWaiters.push(resolve));
    }
  }

  stats(): FileSpoolStats {
    const meta = this.meta.current;
    return {
      records: { telemetry: this.unacked.telemetry, priority: this.unacked.priority },
      bytes: this.bytes.telemetry + this.bytes.priority,
      maxBytes: this.settings.maxBytes,
      priorityMaxBytes: this.settings.priorityMaxBytes,
      droppedTelemetry: meta.droppedTelemetry,
      corruptRecords: meta.corruptRecords,
      appended: this.appended,
      acknowledged: this.acknowledged,
      segments: this.segments.telemetry.length + this.segments.priority.length,
    };
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  // ------------------------------------------------------------------------------------------
  // The worker: all file work, one step at a time.

  private kick(): void {
    if (this.running) return;
    this.running = true;
    // A microtask later, so that every append made in this tick joins the same commit.
    queueMicrotask(() => void this.work());
  }

  private async work(): Promise<void> {
    for (;;) {
      // The interval fsync goes first: under a steady stream of appends the queue is never empty,
      // and the sync must not wait for it to be. Each step settles its own requests; the catches
      // are for what would otherwise leave them hanging.
      if (this.syncDue) {
        this.syncDue = false;
        const error = await this.syncDirty();
        if (error !== undefined) this.deferredError = error;
      } else if (this.acks.length > 0) {
        const acks = this.acks.splice(0);
        await this.applyAcks(acks).catch((e: unknown) => acks.forEach((a) => a.reject(ioError('ack', e))));
      } else if (this.peeks.length > 0) {
        for (const peek of this.peeks.splice(0)) {
          await this.servePeek(peek).catch((e: unknown) => peek.reject(ioError('peek', e)));
        }
      } else if (this.appends.length > 0) {
        const batch = this.appends.splice(0);
        await this.commit(batch).catch((e: unknown) => batch.forEach((r) => r.reject(ioError('append', e))));
      } else break;
    }
    this.running = false;
    for (const done of this.idleWaiters.splice(0)) done();
  }

  private idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((done) => this.idleWaiters.push(done));
  }

  private async shutdown(): Promise<void> {
    await this.idle();
    if (this.syncTimer !== undefined) this.settings.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    const error = this.settings.fsync === 'never' ? undefined : await this.syncDirty();
    const handles = new Set<Segment>([...this.segments.telemetry, ...this.segments.priority, ...this.dirty]);
    for (const segment of handles) await this.cache.closeHandle(segment);
    await this.meta.close().catch(() => undefined);
    await this.lock.release();
    emit('spool', 'info', 'closed', { dir: this.settings.dir, ...this.stats().records });
    if (error !== undefined) throw error;
  }

  // ------------------------------------------------------------------------------------------
  // Appends

  private async commit(batch: AppendRequest[]): Promise<void> {
    const { maxBytes, priorityMaxBytes } = this.settings;
    // Admission: priority first (never dropped, own cap), then telemetry in what priority leaves.
    let priority = this.bytes.priority;
    let telemetry = 0;
    const accepted = new Set<AppendRequest>();
    for (const request of batch) {
      if (request.cls !== 'priority') continue;
      if (priority + request.bytes > priorityMaxBytes) {
        request.reject(
          new SpoolError(
            'SPOOL_FULL',
            `priority records would take ${priority + request.bytes} bytes, over priorityMaxBytes ${priorityMaxBytes}`,
            request.bytes <= priorityMaxBytes,
          ),
        );
      } else {
        priority += request.bytes;
        accepted.add(request);
      }
    }
    for (const request of batch) {
      if (request.cls !== 'telemetry') continue;
      if (priority + telemetry + request.bytes > maxBytes) {
        request.reject(
          new SpoolError(
            'SPOOL_FULL',
            `no telemetry left to drop: priority records take ${priority} of maxBytes ${maxBytes}, ${request.bytes} needed`,
            request.bytes <= maxBytes,
          ),
        );
      } else {
        telemetry += request.bytes;
        accepted.add(request);
      }
    }
    const requests = batch.filter((r) => accepted.has(r));
    if (requests.length === 0) return;
    const count = requests.reduce((n, r) => n + r.payloads.length, 0);
    try {
      await this.makeRoom(priority - this.bytes.priority + telemetry);
      if (this.nextId + count > this.meta.current.leaseEnd) {
        await this.meta.update({ leaseEnd: this.nextId + count + ID_LEASE });
      }
    } catch (e) {
      const error = ioError('append', e);
      for (const request of requests) request.reject(error);
      return;
    }
    // Ids in arrival order across both classes.
    const byClass: Record<SpoolClass, { request: AppendRequest; firstId: number }[]> = {
      telemetry: [],
      priority: [],
    };
    for (const request of requests) {
      byClass[request.cls].push({ request, firstId: this.nextId });
      this.nextId += request.payloads.length;
    }
    await Promise.all(
      CLASSES.map((cls) => (byClass[cls].length > 0 ? this.writeClass(cls, byClass[cls]) : undefined)),
    );
  }

  /** Drops the oldest telemetry segments until `incoming` more record bytes fit under maxBytes. */
  private async makeRoom(incoming: number): Promise<void> {
    const victims: Segment[] = [];
    let total = this.bytes.telemetry + this.bytes.priority + incoming;
    let records = 0;
    for (const segment of this.segments.telemetry) {
      if (total <= this.settings.maxBytes) break;
      victims.push(segment);
      total -= segment.recordBytes;
      records += segment.unacked;
    }
    if (victims.length === 0) return;
    // Counted before the files go: a crash in between counts them twice rather than not at all.
    const droppedTelemetry = this.meta.current.droppedTelemetry + records;
    if (records > 0) await this.meta.update({ droppedTelemetry });
    for (const segment of victims) {
      await this.removeSegment(segment);
      this.unacked.telemetry -= segment.unacked;
    }
    if (records === 0) return; // only acknowledged records went: nothing was lost
    emit('spool', 'warn', 'dropped', {
      cls: 'telemetry',
      records,
      segments: victims.length,
      droppedTelemetry,
      bytes: this.bytes.telemetry + this.bytes.priority,
      maxBytes: this.settings.maxBytes,
    });
  }

  private active(cls: SpoolClass): Segment | undefined {
    const last = this.segments[cls].at(-1);
    return last !== undefined && !last.sealed ? last : undefined;
  }

  /** Writes one class's share of a group commit, then resolves or rejects its requests. Never throws. */
  private async writeClass(
    cls: SpoolClass,
    items: readonly { request: AppendRequest; firstId: number }[],
  ): Promise<void> {
    const { segmentBytes, fsync } = this.settings;
    const active = this.active(cls);
    const chunks: Chunk[] = [];
    let chunk: Chunk | undefined =
      active === undefined
        ? undefined
        : {
            segment: active,
            created: false,
            start: active.size,
            end: active.size,
            ids: [],
            offsets: [],
            payloads: [],
          };
    for (const { request, firstId } of items) {
      request.payloads.forEach((payload, i) => {
        const id = firstId + i;
        const bytes = recordBytes(payload.byteLength);
        const holds = chunk === undefined ? 0 : chunk.segment.count + chunk.ids.length;
        if (chunk === undefined || (chunk.end + bytes > segmentBytes && holds > 0)) {
          if (chunk !== undefined && chunk.ids.length > 0) chunks.push(chunk);
          const segment = new Segment(this.settings.dir, cls, id, Math.max(64, Math.ceil(segmentBytes / 64)));
          chunk = {
            segment,
            created: true,
            start: 0,
            end: SEGMENT_HEADER_BYTES,
            ids: [],
            offsets: [],
            payloads: [],
          };
        }
        chunk.ids.push(id);
        chunk.offsets.push(chunk.end);
        chunk.payloads.push(payload);
        chunk.end += bytes;
      });
    }
    if (chunk !== undefined && chunk.ids.length > 0) chunks.push(chunk);

    const created = chunks.filter((c) => c.created);
    try {
      for (const c of created) c.segment.handle = await open(c.segment.path, 'wx+');
      await settleAll(chunks.map((c) => this.writeChunk(c)));
      if (fsync === 'always') {
        await this.timedSync(
          chunks.map((c) => c.segment),
          created.length > 0,
          chunks.reduce((n, c) => n + c.ids.length, 0),
        );
      }
    } catch (e) {
      const error = ioError(`append to ${cls} segment`, e);
      emit('spool', 'error', 'append_failed', { cls, error: error.message, retriable: error.retriable });
      await this.undo(chunks, active);
      for (const { request } of items) request.reject(error);
      return;
    }

    for (const c of chunks) {
      if (c.created) this.segments[cls].push(c.segment);
      c.segment.appendRecords(c.ids, c.offsets, c.end);
      this.bytes[cls] += c.end - c.start - (c.created ? SEGMENT_HEADER_BYTES : 0);
      if (fsync === 'interval') this.markDirty(c.segment, c.created);
    }
    // Every segment but the newest is sealed; one that was already fully acknowledged can go.
    const segments = this.segments[cls];
    for (const segment of segments.slice(0, -1)) {
      if (!segment.sealed) await this.seal(segment);
    }
    const count = items.reduce((n, { request }) => n + request.payloads.length, 0);
    this.unacked[cls] += count;
    this.appended += count;
    for (const { request, firstId } of items) {
      request.resolve(request.payloads.map((payload, i) => ({ id: BigInt(firstId + i), cls, payload })));
    }
  }

  private async writeChunk(c: Chunk): Promise<void> {
    const bytes = new Uint8Array(c.end - c.start);
    if (c.created) encodeSegmentHeader({ cls: c.segment.cls, firstId: c.segment.firstId }, bytes, 0);
    c.ids.forEach((id, i) =>
      encodeRecord(bytes, (c.offsets[i] ?? 0) - c.start, id, c.payloads[i] ?? new Uint8Array(0)),
    );
    if (c.segment.handle === undefined) throw new Error(`${c.segment.path} is not open`);
    await writeFully(c.segment.handle, bytes, c.start);
  }

  /**
   * After a failed write or fsync: new files go, the active segment is cut back to what it held and
   * sealed (the next append starts a new file), so that nothing the caller was told failed lingers.
   */
  private async undo(chunks: readonly Chunk[], active: Segment | undefined): Promise<void> {
    for (const c of chunks) {
      if (!c.created || c.segment.handle === undefined) continue; // not ours if we could not create it
      await c.segment.handle.close().catch(() => undefined);
      c.segment.handle = undefined;
      await unlinkIfExists(c.segment.path).catch(() => undefined);
    }
    if (active !== undefined && chunks.some((c) => c.segment === active)) {
      await active.handle?.truncate(active.size).catch(() => undefined);
      await this.seal(active);
    }
  }

  /** No more appends to `segment`; its handle becomes a read handle, its index joins the LRU. */
  private async seal(segment: Segment): Promise<void> {
    segment.sealed = true;
    if (segment.unacked === 0) {
      await this.removeSegment(segment).catch((e: unknown) => this.reportIo('remove', segment.path, e));
      return;
    }
    this.cache.usedIndex(segment);
    if (segment.handle !== undefined && !segment.dirty) await this.cache.usedHandle(segment);
  }

  // ------------------------------------------------------------------------------------------
  // fsync

  private markDirty(segment: Segment, created: boolean): void {
    segment.dirty = true;
    this.dirty.add(segment);
    if (created) this.dirDirty = true;
    if (this.syncTimer === undefined && !this.closed) {
      this.syncTimer = this.settings.clock.setTimeout(() => {
        this.syncTimer = undefined;
        this.syncDue = true;
        this.kick();
      }, this.settings.fsyncIntervalMs);
    }
  }

  private async timedSync(segments: readonly Segment[], directory: boolean, records: number): Promise<void> {
    const started = performance.now();
    await settleAll(
      segments.map(async (s) => {
        if (s.handle === undefined) throw new Error(`${s.path} is not open`);
        await s.handle.datasync();
      }),
    );
    if (directory) await syncDirectory(this.settings.dir);
    emit('spool', 'debug', 'fsync', {
      files: segments.length,
      directory,
      records,
      durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    });
  }

  /** fsyncs what `interval` left dirty; returns the error instead of throwing. */
  private async syncDirty(): Promise<SpoolError | undefined> {
    const segments = [...this.dirty];
    const directory = this.dirDirty;
    // Whoever called durable() before this sync has every record it asks about in `segments`.
    const waiters = this.durableWaiters.splice(0);
    this.dirty.clear();
    this.dirDirty = false;
    if (segments.length === 0 && !directory) {
      for (const done of waiters) done(true);
      return undefined;
    }
    let error: SpoolError | undefined;
    this.syncing = true;
    try {
      await this.timedSync(segments, directory, 0);
    } catch (e) {
      error = ioError('fsync', e);
      emit('spool', 'error', 'fsync_failed', { error: error.message, files: segments.map((s) => s.path) });
    } finally {
      this.syncing = false;
    }
    for (const done of waiters) done(error === undefined);
    // Callers that came during the sync asked about records in it, or in segments dirtied since,
    // which the next sync takes (its timer is set). With nothing dirty, this sync was theirs.
    if (this.dirty.size === 0 && !this.dirDirty) {
      for (const done of this.durableWaiters.splice(0)) done(error === undefined);
    }
    for (const segment of segments) {
      segment.dirty = false;
      // What failed to sync may be gone after a power loss: nothing more goes after it.
      if (error !== undefined && !segment.sealed) await this.seal(segment);
      else if (segment.sealed && segment.handle !== undefined) {
        await this.cache.usedHandle(segment);
      }
    }
    return error;
  }

  // ------------------------------------------------------------------------------------------
  // Peeks

  private async servePeek(request: PeekRequest): Promise<void> {
    try {
      const out: SpoolRecord[] = [];
      for (const segment of [...this.segments[request.cls]]) {
        if (out.length >= request.max) break;
        if (segment.lastId <= request.afterId || segment.unacked === 0) continue;
        await this.ensureIndex(segment);
        let ordinal = Math.max(segment.head, segment.firstOrdinalAbove(request.afterId));
        const ordinals: number[] = [];
        for (; ordinal < segment.count && out.length + ordinals.length < request.max; ordinal++) {
          if (!segment.isDone(ordinal)) ordinals.push(ordinal);
        }
        if (ordinals.length > 0) await this.readRecords(segment, ordinals, out);
      }
      request.resolve(out);
    } catch (e) {
      request.reject(ioError('peek', e));
    }
  }

  private async readRecords(
    segment: Segment,
    ordinals: readonly number[],
    out: SpoolRecord[],
  ): Promise<void> {
    const first = ordinals[0] ?? 0;
    const last = ordinals[ordinals.length - 1] ?? 0;
    const start = segment.offsetAt(first);
    const bytes = await readFully(await this.handleFor(segment), start, segment.offsetAt(last + 1) - start);
    for (const ordinal of ordinals) {
      const id = segment.idAt(ordinal);
      const record = decodeRecord(bytes, segment.offsetAt(ordinal) - start, id - 1);
      if (record.ok && record.id === id && record.end === segment.offsetAt(ordinal + 1) - start) {
        out.push({ id: BigInt(id), cls: segment.cls, payload: record.payload });
      } else {
        await this.discardCorrupt(segment, [ordinal], record.ok ? 'mismatch' : record.fault);
      }
    }
  }

  /**
   * Records that no longer read back as written (the medium failed under a running spool): they
   * are reported, counted in `corruptRecords` and never handed out; the rest carries on.
   */
  private async discardCorrupt(segment: Segment, ordinals: readonly number[], fault: string): Promise<void> {
    const ids: number[] = [];
    for (const ordinal of ordinals) {
      if (!segment.markDone(ordinal)) continue;
      ids.push(segment.idAt(ordinal));
      this.unacked[segment.cls]--;
    }
    if (ids.length === 0) return;
    emit('spool', 'error', 'corrupt_record', { file: segment.path, ids, fault });
    segment.pendingAcks.push(...ids);
    await this.meta.update({ corruptRecords: this.meta.current.corruptRecords + ids.length });
    await this.settle(segment);
  }

  /** The segment's per-record index, read back from its file if it was unloaded. */
  private async ensureIndex(segment: Segment): Promise<void> {
    if (segment.indexLoaded) {
      if (segment.sealed) this.cache.usedIndex(segment);
      return;
    }
    const bytes = await readFully(await this.handleFor(segment), 0, segment.size);
    const scan = scanSegment(bytes, { cls: segment.cls, firstId: segment.firstId });
    const ids = new Float64Array(segment.count);
    const offsets = new Uint32Array(segment.count);
    ids.set(scan.ids.subarray(0, segment.count));
    offsets.set(scan.offsets.subarray(0, segment.count));
    // Records that were there on open but no longer read back keep their place, as corrupt.
    for (let i = scan.count; i < segment.count; i++) {
      ids[i] = segment.lastId;
      offsets[i] = scan.validEnd;
    }
    segment.loadIndex({ ids, offsets });
    this.cache.usedIndex(segment);
    if (scan.count < segment.count) {
      const lost = Array.from({ length: segment.count - scan.count }, (_, i) => scan.count + i);
      await this.discardCorrupt(segment, lost, scan.fault ?? 'short');
    }
  }

  private async handleFor(segment: Segment): Promise<FileHandle> {
    if (segment.handle === undefined) {
      try {
        segment.handle = await open(segment.path, 'r');
      } catch (e) {
        throw ioError(`open ${segment.path}`, e);
      }
    }
    if (segment.sealed && !segment.dirty) {
      await this.cache.usedHandle(segment);
    }
    return segment.handle;
  }

  // ------------------------------------------------------------------------------------------
  // Acks

  private async applyAcks(requests: readonly AckRequest[]): Promise<void> {
    const ids = new Set<number>();
    for (const request of requests) {
      for (const id of request.ids) {
        if (id > 0n && id <= BigInt(Number.MAX_SAFE_INTEGER)) ids.add(Number(id));
      }
    }
    try {
      const touched = new Set<Segment>();
      for (const id of [...ids].sort((a, b) => a - b)) {
        // Telemetry first: most acks are, and a priority segment's id range spans telemetry ids.
        for (const cls of ['telemetry', 'priority'] as const) {
          const segment = this.holding(cls, id);
          if (segment === undefined) continue;
          await this.ensureIndex(segment);
          const ordinal = segment.ordinalOf(id);
          if (ordinal < 0) continue;
          if (segment.markDone(ordinal)) {
            segment.pendingAcks.push(id);
            this.unacked[cls]--;
            this.acknowledged++;
            touched.add(segment);
          }
          break;
        }
      }
      for (const segment of touched) await this.settle(segment);
      for (const request of requests) request.resolve();
    } catch (e) {
      const error = ioError('ack', e);
      for (const request of requests) request.reject(error);
    }
  }

  /** The segment of `cls` whose id range covers `id`, if any. */
  private holding(cls: SpoolClass, id: number): Segment | undefined {
    const segments = this.segments[cls];
    let lo = 0;
    let hi = segments.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((segments[mid]?.firstId ?? Infinity) <= id) lo = mid + 1;
      else hi = mid;
    }
    const segment = segments[lo - 1];
    return segment !== undefined && id <= segment.lastId ? segment : undefined;
  }

  /** Persists a segment's new acks, or deletes it when it is sealed and nothing in it is left. */
  private async settle(segment: Segment): Promise<void> {
    if (segment.sealed && segment.unacked === 0) {
      await this.removeSegment(segment);
      return;
    }
    if (segment.pendingAcks.length === 0) return;
    const ids = segment.pendingAcks;
    segment.pendingAcks = [];
    const parts: Uint8Array[] = [];
    for (let at = 0; at < ids.length; at += MAX_ACK_BATCH) {
      parts.push(encodeAckBatch(ids.slice(at, at + MAX_ACK_BATCH), segment.ackLogSize === 0 && at === 0));
    }
    const bytes = parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
    let handle;
    try {
      handle = await open(segment.ackPath, segment.ackLogSize === 0 ? 'w' : 'r+');
      await writeFully(handle, bytes, segment.ackLogSize);
      segment.ackLogSize += bytes.byteLength;
    } catch (e) {
      throw ioError(`write ${segment.ackPath}`, e);
    } finally {
      await handle?.close();
    }
  }

  /** Deletes a segment's files and forgets it; its remaining unacknowledged records are the caller's to count. */
  private async removeSegment(segment: Segment): Promise<void> {
    await this.cache.forget(segment);
    segment.dirty = false;
    this.dirty.delete(segment);
    try {
      await unlinkIfExists(segment.path);
      await unlinkIfExists(segment.ackPath);
    } catch (e) {
      throw ioError(`remove ${segment.path}`, e);
    }
    const list = this.segments[segment.cls];
    const at = list.indexOf(segment);
    if (at >= 0) {
      list.splice(at, 1);
      this.bytes[segment.cls] -= segment.recordBytes;
    }
  }

  private reportIo(op: string, file: string, e: unknown): void {
    emit('spool', 'error', 'io_error', { op, file, error: ioError(op, e).message });
  }
}
