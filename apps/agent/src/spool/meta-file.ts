/**
 * `spool.meta`: the id lease and the persisted counters, in two slots written in turn (format.ts).
 * A write that tears leaves the other slot, one update older, valid — never a file with neither.
 */
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { emit } from '../diagnostics.js';
import {
  decodeMetaFile,
  encodeMetaSlot,
  META_FILE_BYTES,
  META_SLOT_BYTES,
  type SpoolMeta,
} from './format.js';
import { errnoCode, ioError, syncDirectory, writeFully } from './io.js';

export const META_FILE_NAME = 'spool.meta';

export class MetaFile {
  private constructor(
    private readonly handle: FileHandle,
    private meta: SpoolMeta,
    private readonly sync: boolean,
  ) {}

  /**
   * Reads the newest valid slot, or starts from zero when the file is missing. Both slots bad is
   * reported (`meta_corrupt`) and also starts from zero: the counters are lost, the records are not,
   * and ids stay unique because the caller raises the lease above every id it finds in segments.
   */
  static async open(dir: string, sync: boolean): Promise<{ file: MetaFile; stored: SpoolMeta | undefined }> {
    const path = join(dir, META_FILE_NAME);
    let stored: SpoolMeta | undefined;
    let rewrite = false;
    try {
      stored = decodeMetaFile(await readFile(path));
      if (stored === undefined) {
        rewrite = true;
        emit('spool', 'error', 'meta_corrupt', { file: path, action: 'counters restart from 0' });
      }
    } catch (e) {
      if (errnoCode(e) !== 'ENOENT') throw ioError(`read ${path}`, e);
      rewrite = true;
    }
    const initial: SpoolMeta = stored ?? { sequence: 0, leaseEnd: 1, droppedTelemetry: 0, corruptRecords: 0 };
    let handle: FileHandle;
    try {
      if (rewrite) {
        handle = await open(path, 'w+');
        await writeFully(handle, new Uint8Array(META_FILE_BYTES), 0);
        await writeFully(handle, encodeMetaSlot(initial), (initial.sequence % 2) * META_SLOT_BYTES);
        if (sync) {
          await handle.datasync();
          await syncDirectory(dir);
        }
      } else {
        handle = await open(path, 'r+');
      }
    } catch (e) {
      throw ioError(`write ${path}`, e);
    }
    return { file: new MetaFile(handle, initial, sync), stored };
  }

  get current(): SpoolMeta {
    return this.meta;
  }

  /** Writes `changes` into the slot after the current one; fsyncs unless the policy is `never`. */
  async update(changes: Partial<Omit<SpoolMeta, 'sequence'>>): Promise<void> {
    const next: SpoolMeta = { ...this.meta, ...changes, sequence: this.meta.sequence + 1 };
    try {
      await writeFully(this.handle, encodeMetaSlot(next), (next.sequence % 2) * META_SLOT_BYTES);
      if (this.sync) await this.handle.datasync();
    } catch (e) {
      throw ioError(`write ${META_FILE_NAME}`, e);
    }
    this.meta = next;
  }

  async close(): Promise<void> {
    await this.handle.close();
  }
}
