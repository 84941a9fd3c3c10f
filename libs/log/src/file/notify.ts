/**
 * Wakes readers of this process when a writer of this process commits, so that a long poll ends at
 * once. Readers also look at the heads every `pollIntervalMs`, which is how they see other
 * processes' appends.
 */
const listeners = new Map<string, Set<() => void>>();

export function notifyAppend(partitionDir: string): void {
  for (const listener of listeners.get(partitionDir) ?? []) listener();
}

/** Calls `listener` on the next commit to any of `partitionDirs`; returns the unsubscribe. */
export function onAppend(partitionDirs: readonly string[], listener: () => void): () => void {
  for (const dir of partitionDirs) {
    let set = listeners.get(dir);
    if (set === undefined) listeners.set(dir, (set = new Set()));
    set.add(listener);
  }
  return () => {
    for (const dir of partitionDirs) {
      const set = listeners.get(dir);
      set?.delete(listener);
      if (set?.size === 0) listeners.delete(dir);
    }
  };
}
