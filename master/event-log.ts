// Cluster events with a monotonically increasing index, kept for a bounded window (in memory
// and in the registry), so that a watcher that reconnects resumes from its last index.
// Watchers see an event once it is durable: never one that a failed or fenced commit lost.
import { ClusterEvent } from "../proto/gen/yard/v1/operator.js";
import type { RegistryStore } from "./store/registry-store.js";

export type EventInput = Omit<Partial<ClusterEvent>, "index" | "timestamp"> & { type: string };
export type EventListener = (e: ClusterEvent) => void;

export class EventLog {
  private readonly window: ClusterEvent[];
  private nextIndex: number;
  /** The last index the registry holds durably: what watchers may see. */
  private committed: number;
  private readonly listeners = new Set<EventListener>();

  constructor(
    private readonly store: RegistryStore,
    readonly capacity = 10_000,
  ) {
    this.window = store.loadEvents();
    const last = this.window[this.window.length - 1];
    this.nextIndex = last ? last.index + 1 : Number(store.getMeta("next_event_index") ?? 1);
    this.committed = this.nextIndex - 1;
  }

  /** Records an event; call inside the transaction of the change it describes. */
  append(input: EventInput): ClusterEvent {
    const e = ClusterEvent.fromPartial({ ...input, index: this.nextIndex++, timestamp: Date.now() / 1000 });
    this.window.push(e);
    this.store.putEvent(e);
    // Trim in slices of a tenth of the window, not one row per event.
    if (this.window.length > this.capacity + Math.ceil(this.capacity / 10)) {
      const drop = this.window.splice(0, this.window.length - this.capacity);
      this.store.trimEventsThrough(drop[drop.length - 1]!.index);
      this.store.putMeta("next_event_index", String(this.nextIndex));
    }
    this.store.afterCommit(() => {
      if (e.index > this.committed) this.committed = e.index;
      for (const l of this.listeners) l(e);
    });
    return e;
  }

  /** Events with index > afterIndex that are still in the window (at most `limit` of them). */
  since(afterIndex: number, limit = Number.POSITIVE_INFINITY): ClusterEvent[] {
    // Indexes in the window are consecutive, so the first one wanted is found by arithmetic.
    if (afterIndex >= this.committed) return [];
    const first = this.window[0]?.index ?? this.nextIndex;
    let start = Math.max(0, afterIndex + 1 - first);
    if (start < this.window.length && this.window[start]!.index !== Math.max(first, afterIndex + 1)) {
      start = this.window.findIndex((e) => e.index > afterIndex);
      if (start < 0) return [];
    }
    const out = this.window.slice(start, start + limit);
    let n = out.length;
    while (n > 0 && out[n - 1]!.index > this.committed) n--;
    return n === out.length ? out : out.slice(0, n);
  }

  /** The oldest index still kept; a watcher needing an older one has missed events. */
  firstIndex(): number {
    return this.window[0]?.index ?? this.nextIndex;
  }

  /** The last index durably stored (events after it are not shown yet). */
  lastIndex(): number {
    return this.committed;
  }

  subscribe(listener: EventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
