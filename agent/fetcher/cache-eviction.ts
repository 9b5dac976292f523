// Which cached releases to evict so that the cache fits its size limit. Pure: the caller
// hands in the entries and the pinned releases, and deletes what the plan names.
// Order: least recently used first (ties by release name, so a plan is reproducible).
// A pinned release (one a running or launching task uses) is never evicted, even when
// the cache then stays over its limit; so is the release being fetched (`keep`).

export interface EvictionCandidate {
  release: string;
  size: number;
  /** Milliseconds since the epoch of the last fetch or use. */
  lastUsed: number;
}

export interface EvictionPlan {
  evict: string[];
  /** Bytes the cache holds after the plan. */
  bytesAfter: number;
  /** True when pinned releases alone keep the cache over its limit. */
  overLimit: boolean;
}

export function planEviction(
  entries: readonly EvictionCandidate[],
  limitBytes: number,
  pinned: ReadonlySet<string>,
  keep?: string,
): EvictionPlan {
  let total = entries.reduce((sum, e) => sum + e.size, 0);
  const evict: string[] = [];
  if (total > limitBytes) {
    const order = [...entries]
      .filter((e) => !pinned.has(e.release) && e.release !== keep)
      .sort(
        (a, b) => a.lastUsed - b.lastUsed || (a.release < b.release ? -1 : a.release > b.release ? 1 : 0),
      );
    for (const e of order) {
      if (total <= limitBytes) break;
      evict.push(e.release);
      total -= e.size;
    }
  }
  return { evict, bytesAfter: total, overLimit: total > limitBytes };
}
