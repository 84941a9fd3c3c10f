/**
 * An in-memory `Spool` for unit tests of the layers above it (publisher, spool writer). It keeps
 * the contract's ordering and ack semantics, not its durability; the file spool has its own suite.
 */
import type { Spool, SpoolClass, SpoolRecord, SpoolStats } from '../../src/spool/spool.js';

export class MemorySpool implements Spool {
  private nextId = 1n;
  private readonly records = new Map<bigint, SpoolRecord>();
  private appended = 0;
  private acknowledged = 0;
  readonly ackCalls: bigint[][] = [];
  closed = false;

  async append(cls: SpoolClass, payload: Uint8Array): Promise<SpoolRecord> {
    const [record] = await this.appendMany(cls, [payload]);
    if (record === undefined) throw new Error('unreachable');
    return record;
  }

  async appendMany(cls: SpoolClass, payloads: readonly Uint8Array[]): Promise<readonly SpoolRecord[]> {
    const out = payloads.map((payload) => {
      const record: SpoolRecord = { id: this.nextId++, cls, payload };
      this.records.set(record.id, record);
      return record;
    });
    this.appended += out.length;
    return out;
  }

  async peek(cls: SpoolClass, max: number, afterId?: bigint): Promise<readonly SpoolRecord[]> {
    const out: SpoolRecord[] = [];
    for (const r of this.records.values()) {
      if (out.length >= max) break;
      if (r.cls === cls && (afterId === undefined || r.id > afterId)) out.push(r);
    }
    return out;
  }

  async ack(ids: readonly bigint[]): Promise<void> {
    this.ackCalls.push([...ids]);
    for (const id of ids) if (this.records.delete(id)) this.acknowledged++;
  }

  /** It has no disk, so no power loss to survive: it answers at once, as the file spool under `always`. */
  async durable(): Promise<boolean> {
    return true;
  }

  stats(): SpoolStats {
    let telemetry = 0;
    let priority = 0;
    let bytes = 0;
    for (const r of this.records.values()) {
      if (r.cls === 'telemetry') telemetry++;
      else priority++;
      bytes += r.payload.length;
    }
    return {
      records: { telemetry, priority },
      bytes,
      maxBytes: Number.MAX_SAFE_INTEGER,
      droppedTelemetry: 0,
      appended: this.appended,
      acknowledged: this.acknowledged,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
