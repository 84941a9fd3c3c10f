/**
 * Broadcast state: a read-only map (key -> value) built from a compacted topic (robot metadata:
 * model, site, zones) that every keyed operator of every partition sees, as Flink's broadcast state.
 *
 * The compacted topic IS its durable form: broadcast state is never checkpointed. An instance reads
 * every partition of the topic from the beginning and to its end offsets before its tasks start,
 * then follows it (../runtime/instance.ts). A record's value is decoded by the descriptor; a null
 * value (tombstone) deletes the key; a record that cannot be decoded is counted and skipped
 * (`fleet:stream:broadcast-skipped`), never applied and never fatal.
 *
 * @example
 *   interface RobotMeta { readonly zone: string }
 *   const robotMeta = broadcastState<RobotMeta>({
 *     name: 'robot_meta',
 *     topic: 'fleet.robot-meta.v1',
 *     decode: (value) => parseRobotMeta(JSON.parse(new TextDecoder().decode(value))),
 *   });
 *   const job = defineJob<Sample>({ name: 'zones', read, broadcast: [robotMeta], operators: [
 *     operator('enrich', {
 *       processElement(s, ctx) { ctx.emit({ ...s, zone: ctx.broadcast(robotMeta).get(ctx.key)?.zone }); },
 *       onBroadcast(change, ctx) { if (change.name === robotMeta.name) ctx.emit({ moved: !change.deleted }); },
 *     }),
 *   ] });
 */
import { NAME_PATTERN, StreamError } from '../errors.js';
import {
  broadcastSkippedChannel,
  type BroadcastSkipReason,
  type BroadcastSkippedEvent,
} from './diagnostics.js';

/** Declares one broadcast input of a job: its name, compacted topic and decoder. */
export interface BroadcastDescriptor<V> {
  /** `[a-z][a-z0-9_]*`, unique within the job; `BroadcastChange.name`. */
  readonly name: string;
  /** A compacted topic (`cleanup.policy=compact`), any partition count. Not a keyed input. */
  readonly topic: string;
  /**
   * The value of a non-tombstone record. Throw to reject it (counted and skipped; the entry keeps
   * its previous value). Must be pure: it runs once per record per instance.
   */
  decode(value: Uint8Array, key: string): V;
  /** The map key from the record key. Default: the key's UTF-8 text (robot ids). Throw to reject. */
  decodeKey?(key: Uint8Array): string;
}

/** Declares a broadcast state (checks the name; fixes the value type for inference). */
export function broadcastState<V>(descriptor: BroadcastDescriptor<V>): BroadcastDescriptor<V> {
  if (!NAME_PATTERN.test(descriptor.name))
    throw new StreamError('BAD_NAME', `broadcast state name ${JSON.stringify(descriptor.name)}`);
  return Object.freeze({ ...descriptor });
}

/** One applied broadcast record, as `onBroadcast` sees it. Read the new value through `ctx.broadcast`. */
export interface BroadcastChange {
  /** The broadcast state's name. */
  readonly name: string;
  readonly key: string;
  /** A tombstone removed the entry. */
  readonly deleted: boolean;
  /** The record's log timestamp (CreateTime), ms: `ctx.timestamp` in `onBroadcast`. */
  readonly timestamp: number;
}

/** One broadcast record as read from the log (bytes; the store decodes). */
export interface BroadcastRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key: Uint8Array | null;
  /** null: a tombstone. */
  readonly value: Uint8Array | null;
  readonly timestamp: number;
}

export interface BroadcastMetrics {
  readonly topic: string;
  readonly entries: number;
  /** Records applied as a put. */
  readonly updates: number;
  /** Tombstones applied (including those for keys not held). */
  readonly deletes: number;
  /** Records skipped: no key, or key or value rejected by the decoder. */
  readonly malformed: number;
}

interface Held {
  readonly descriptor: BroadcastDescriptor<unknown>;
  readonly entries: Map<string, unknown>;
  updates: number;
  deletes: number;
  malformed: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const decodeUtf8 = (key: Uint8Array): string => utf8.decode(key);

/**
 * The broadcast states of one job in one process (an instance, or a test driver), shared by all of
 * its partition tasks. Only the owner applies records; tasks and operators read.
 */
export class BroadcastStore {
  private readonly byName = new Map<string, Held>();
  private readonly byTopic = new Map<string, Held[]>();

  constructor(descriptors: readonly BroadcastDescriptor<unknown>[] = []) {
    for (const descriptor of descriptors) {
      if (!NAME_PATTERN.test(descriptor.name))
        throw new StreamError('BAD_NAME', `broadcast state name ${JSON.stringify(descriptor.name)}`);
      if (this.byName.has(descriptor.name))
        throw new StreamError('BAD_NAME', `two broadcast states named ${descriptor.name}`);
      const held: Held = { descriptor, entries: new Map(), updates: 0, deletes: 0, malformed: 0 };
      this.byName.set(descriptor.name, held);
      const list = this.byTopic.get(descriptor.topic);
      if (list === undefined) this.byTopic.set(descriptor.topic, [held]);
      else list.push(held);
    }
  }

  /** The topics to follow. */
  get topics(): readonly string[] {
    return [...this.byTopic.keys()];
  }

  /** Whether `descriptor` (by name and topic) is one of this store's. */
  declares(descriptor: BroadcastDescriptor<unknown>): boolean {
    return this.byName.get(descriptor.name)?.descriptor.topic === descriptor.topic;
  }

  /** The read-only view of one broadcast state; `BAD_CONFIG` when the job did not declare it. */
  view<V>(descriptor: BroadcastDescriptor<V>): ReadonlyMap<string, V> {
    const held = this.byName.get(descriptor.name);
    if (held === undefined || held.descriptor.topic !== descriptor.topic) {
      throw new StreamError(
        'BAD_CONFIG',
        `broadcast state ${descriptor.name} (${descriptor.topic}) is not declared by the job's \`broadcast\``,
      );
    }
    return held.entries as ReadonlyMap<string, V>;
  }

  /**
   * Applies one record of a broadcast topic to every state declared on it; returns what changed
   * (nothing for a skipped record or a tombstone of an absent key).
   */
  apply(record: BroadcastRecord): BroadcastChange[] {
    const changes: BroadcastChange[] = [];
    for (const held of this.byTopic.get(record.topic) ?? []) {
      const change = this.applyTo(held, record);
      if (change !== undefined) changes.push(change);
    }
    return changes;
  }

  metrics(): Record<string, BroadcastMetrics> {
    const out: Record<string, BroadcastMetrics> = {};
    for (const [name, h] of this.byName) {
      out[name] = {
        topic: h.descriptor.topic,
        entries: h.entries.size,
        updates: h.updates,
        deletes: h.deletes,
        malformed: h.malformed,
      };
    }
    return out;
  }

  private applyTo(held: Held, record: BroadcastRecord): BroadcastChange | undefined {
    const { descriptor } = held;
    if (record.key === null) return this.skip(held, record, 'no_key');
    let key: string;
    try {
      key = (descriptor.decodeKey ?? decodeUtf8)(record.key);
    } catch (error) {
      return this.skip(held, record, 'bad_key', error);
    }
    if (record.value === null) {
      held.deletes++;
      if (!held.entries.delete(key)) return undefined;
      return { name: descriptor.name, key, deleted: true, timestamp: record.timestamp };
    }
    let value: unknown;
    try {
      value = descriptor.decode(record.value, key);
    } catch (error) {
      return this.skip(held, record, 'bad_value', error);
    }
    held.entries.set(key, value);
    held.updates++;
    return { name: descriptor.name, key, deleted: false, timestamp: record.timestamp };
  }

  private skip(held: Held, record: BroadcastRecord, reason: BroadcastSkipReason, error?: unknown): undefined {
    held.malformed++;
    if (broadcastSkippedChannel.hasSubscribers) {
      const event: BroadcastSkippedEvent = {
        name: held.descriptor.name,
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        reason,
        ...(error === undefined ? {} : { error }),
      };
      broadcastSkippedChannel.publish(event);
    }
    return undefined;
  }
}
