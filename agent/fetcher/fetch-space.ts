// Whether a release fits on the agent's disk before its fetch starts, and which cached
// releases to evict to make it fit. Pure: the caller measures the disk and the cache, and
// evicts what the plan names before it downloads.
//
// A fetch needs the release's bytes not yet on disk (a resumed fetch already holds some) and
// must leave the reserve free. Least recently used releases that no task pins and no fetch
// writes are evicted until it fits, as the cache's LRU does past its size limit; when even
// all of them would not make room, nothing is evicted and the fetch fails before it writes
// a byte, with the figures in its message.
import { formatMiB } from "../disk-space.js";

export interface SpaceCandidate {
  release: string;
  size: number;
  /** Milliseconds since the epoch of the last fetch or use. */
  lastUsed: number;
}

export interface SpaceRequest {
  release: string;
  /** Bytes the release still needs on disk. */
  needBytes: number;
  freeBytes: number;
  reserveBytes: number;
  cached: readonly SpaceCandidate[];
  /** Releases that must stay: pinned by tasks, being fetched, the release itself. */
  busy: ReadonlySet<string>;
}

export type SpacePlan = { fits: true; evict: string[] } | { fits: false; message: string };

export function planFetchSpace(r: SpaceRequest): SpacePlan {
  const short = r.needBytes + r.reserveBytes - r.freeBytes;
  if (short <= 0) return { fits: true, evict: [] };
  const order = r.cached
    .filter((e) => !r.busy.has(e.release) && e.release !== r.release)
    .sort((a, b) => a.lastUsed - b.lastUsed || (a.release < b.release ? -1 : a.release > b.release ? 1 : 0));
  const evict: string[] = [];
  let freed = 0;
  for (const e of order) {
    if (freed >= short) break;
    evict.push(e.release);
    freed += e.size;
  }
  if (freed >= short) return { fits: true, evict };
  return {
    fits: false,
    message:
      `not enough disk space for release ${r.release}: needs ${formatMiB(r.needBytes)} ` +
      `plus a reserve of ${formatMiB(r.reserveBytes)}, has ${formatMiB(r.freeBytes)} free` +
      (freed > 0 ? ` and ${formatMiB(freed)} in cached releases it could evict` : ""),
  };
}
