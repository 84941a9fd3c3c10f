/**
 * Where the agent keeps its serial position between runs: `serial-position.json` in the spool
 * directory, beside the spool it describes (and under the spool's LOCK), as
 *
 *   {"version":1,"bootId":1592590338,"seq":1233}
 *
 * Written whole to `serial-position.json.tmp`, then renamed over the old file, so a crash at any
 * instant leaves the old position or the new one, never a torn one. With the spool's fsync policy
 * `always` the temporary file is fsynced before the rename. The directory is not: after a power
 * loss the rename may be undone, and an older position only means the firmware replays frames the
 * spool already holds — duplicates, which the cloud removes by (robot, boot, seq).
 *
 * A position is never ahead of what the spool holds, after kill -9 or after a power loss: it is
 * written only after the frames it covers settled in the spool (durable-position.ts) AND the spool
 * said they are durable (`Spool.durable()`). Under `fsync: 'interval'` that is after the next
 * interval fsync, so the file lags the spool by up to one interval plus one fsync (those frames
 * are replayed after a restart: duplicates). Under `never` the spool never makes anything durable,
 * so the agent neither reads nor writes the file: every start asks the firmware for all it holds
 * (spool/README.md, "The serial position").
 *
 * A file that cannot be read as a position is reported and ignored: the agent then asks for
 * everything the firmware holds.
 */
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { emit } from '../diagnostics.js';
import { errorMessage } from '../errors.js';
import type { SerialPosition } from '../serial/resume.js';

export const POSITION_FILE = 'serial-position.json';
const FORMAT_VERSION = 1;
const U32 = 0xffff_ffff;

/** Loads and saves the serial position; `save` resolves once the position is in place. */
export interface PositionStore {
  load(): Promise<SerialPosition | undefined>;
  save(position: SerialPosition): Promise<void>;
}

export interface PositionFileOptions {
  /** The spool directory (it exists: the spool is open). */
  readonly dir: string;
  /** fsync the new file before it replaces the old one. */
  readonly fsync: boolean;
}

export function positionFile(options: PositionFileOptions): PositionStore {
  const path = join(options.dir, POSITION_FILE);
  const temporary = `${path}.tmp`;
  return {
    async load() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ENOENT') return undefined;
        throw e;
      }
      const position = parsePosition(text);
      if (position === undefined) emit('serial', 'warn', 'serial_position_unreadable', { path, text });
      return position;
    },
    async save(position) {
      const bytes = `${JSON.stringify({ version: FORMAT_VERSION, bootId: position.bootId, seq: position.seq })}\n`;
      const handle = await open(temporary, 'w');
      try {
        await handle.writeFile(bytes);
        if (options.fsync) await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temporary, path);
    },
  };
}

/** The position in `text`, or undefined when it is not one. */
export function parsePosition(text: string): SerialPosition | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { version, bootId, seq } = value as Record<string, unknown>;
  const u32 = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= U32;
  if (version !== FORMAT_VERSION || !u32(bootId) || !u32(seq)) return undefined;
  return { bootId, seq };
}

/**
 * Saves the newest position it is given, one write at a time, each only once the spool has made
 * durable every record appended before the position was recorded (`durable`, the spool's
 * barrier): positions that arrive meanwhile are coalesced into the next write. A failed write, or
 * a barrier that answers false (a failed fsync), is reported and skipped (the next position tries
 * again); the only cost of a stale file is a longer replay after a restart.
 */
export class PositionRecorder {
  private wanted: SerialPosition | undefined;
  /** The last position written (or that failed to be). */
  private attempted: SerialPosition | undefined;
  private saved: SerialPosition | undefined;
  private writing: Promise<void> | undefined;
  private readonly counts = { saves: 0, failures: 0, notDurable: 0 };

  constructor(
    private readonly store: Pick<PositionStore, 'save'>,
    /** The spool's durability barrier (`Spool.durable`). */
    private readonly durable: () => Promise<boolean>,
  ) {}

  record(position: SerialPosition): void {
    this.wanted = position;
    this.writing ??= this.run();
  }

  /** Resolves once the newest position recorded so far is saved (or failed). */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  stats() {
    return { ...this.counts, position: this.saved };
  }

  private async run(): Promise<void> {
    try {
      for (let p = this.wanted; p !== undefined && p !== this.attempted; p = this.wanted) {
        this.attempted = p; // a failure is not retried as such: the next position will be
        try {
          // p was recorded after its frames' appends resolved: the barrier covers them.
          if (!(await this.durable())) {
            this.counts.notDurable++;
            emit('serial', 'warn', 'serial_position_not_durable', { position: p });
            continue;
          }
          await this.store.save(p);
          this.saved = p;
          this.counts.saves++;
        } catch (e) {
          this.counts.failures++;
          emit('serial', 'warn', 'serial_position_save_failed', { error: errorMessage(e) });
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}
