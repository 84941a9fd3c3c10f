/**
 * Which sealed segments keep their per-record index loaded and their file open: the most recently
 * used ones, up to a cap each, so that memory and file descriptors stay bounded however large the
 * spool grows. Active segments (still appended to) and segments waiting for an `interval` fsync
 * are never in here: they keep both.
 */
import type { Segment } from './segment.js';

export class SegmentCache {
  private readonly indexes: Segment[] = [];
  private readonly handles: Segment[] = [];

  constructor(
    private readonly maxIndexes: number,
    private readonly maxHandles: number,
    /** A handle failed to close; the caller reports it. */
    private readonly onCloseError: (segment: Segment, error: unknown) => void,
  ) {}

  /** `segment`'s index was just loaded or used; the least recently used beyond the cap are unloaded. */
  usedIndex(segment: Segment): void {
    touch(this.indexes, segment);
    while (this.indexes.length > this.maxIndexes) this.indexes.shift()?.unloadIndex();
  }

  /** `segment`'s open file was just used; the least recently used beyond the cap are closed. */
  async usedHandle(segment: Segment): Promise<void> {
    touch(this.handles, segment);
    while (this.handles.length > this.maxHandles) {
      const evicted = this.handles.shift();
      if (evicted !== undefined) await this.closeHandle(evicted);
    }
  }

  /** Closes `segment`'s file if it is open. */
  async closeHandle(segment: Segment): Promise<void> {
    const handle = segment.handle;
    segment.handle = undefined;
    remove(this.handles, segment);
    await handle?.close().catch((e: unknown) => this.onCloseError(segment, e));
  }

  /** Closes `segment`'s file and forgets it: it is being deleted. */
  async forget(segment: Segment): Promise<void> {
    await this.closeHandle(segment);
    remove(this.indexes, segment);
  }
}

function touch(list: Segment[], segment: Segment): void {
  remove(list, segment);
  list.push(segment);
}

function remove(list: Segment[], segment: Segment): void {
  const at = list.indexOf(segment);
  if (at >= 0) list.splice(at, 1);
}
