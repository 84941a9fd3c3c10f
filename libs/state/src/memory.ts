/**
 * The in-memory state backend: the default, for state that fits in memory. Each partition's state
 * lives in a {@link Store} owned by the backend, so closing a partition and opening it again in the
 * same process finds it; `drop()` forgets it. Nothing survives the process: after a failover the
 * runtime restores from the checkpoint.
 *
 * @example
 * const backend = createMemoryBackend();
 * const state = await backend.open('battery', 3);
 * state.setTime(event.time);
 * state.value(lastSeen, event.robotId).set(event.time);
 * const changes = state.takeChanges(); // to the checkpoint transaction
 */
import type { KeyGroupState, StateBackend } from './api.js';
import { KeyGroup, Store } from './core.js';
import { partitionId } from './names.js';

export function createMemoryBackend(): StateBackend {
  const stores = new Map<string, Store>();
  const open = new Map<string, KeyGroup>();
  return {
    name: 'memory',
    async open(job: string, partition: number): Promise<KeyGroupState> {
      const id = partitionId(job, partition);
      const current = open.get(id);
      if (current !== undefined && !current.closed) return current;
      let store = stores.get(id);
      if (store === undefined) {
        store = new Store();
        stores.set(id, store);
      }
      const group = new KeyGroup(partition, store);
      open.set(id, group);
      return group;
    },
    async drop(job: string, partition: number): Promise<void> {
      const id = partitionId(job, partition);
      const current = open.get(id);
      if (current !== undefined) current.closed = true;
      open.delete(id);
      stores.delete(id);
    },
  };
}
