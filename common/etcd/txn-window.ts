// Which etcd txns may be in flight together. Pure: no client, no timers.
//
// etcd does not order concurrent unary calls, even on one connection: two txns sent together
// may be applied in either order. So a txn is sent only when no txn still in flight writes a
// key it writes (a single key, or a key in a deleted range): then the order in which etcd
// applies the txns in flight cannot change what any key ends up holding. A txn stays in flight
// until etcd has stored it (through every retry after a transport error) or the fence is lost,
// so a retried txn can never be overtaken by a later one on the same keys.
//
// Completion is tracked in send order: a unit counts as stored once its txn and every txn sent
// before it are stored, so waiters still run in the order their writes were made.
import type { TxnPlan } from "./txn-plan.js";

/** The keys one txn writes: single keys, and [from, to) ranges it deletes. */
export interface TxnKeys {
  keys: readonly string[];
  ranges: ReadonlyArray<{ from: string; to: string }>;
}

export function keysOf(plan: TxnPlan): TxnKeys {
  return { keys: [...plan.entries.keys()], ranges: plan.ranges.map((r) => ({ from: r.from, to: r.to })) };
}

/** A txn the window let go: hand it back to finish() once etcd has stored it. */
export interface InFlight {
  readonly id: number;
  readonly keys: TxnKeys;
  /** The last unit whose every op is in this txn or one sent before it (0: none complete). */
  readonly completeSeq: number;
  done: boolean;
}

export class TxnWindow {
  /** In send order; the head is the oldest txn not yet known stored with all before it. */
  private readonly flights: InFlight[] = [];
  /** Single keys written by txns in flight, with how many such txns write each. */
  private readonly keyCount = new Map<string, number>();
  private nextId = 0;
  private stored = 0;

  /** `limit`: how many txns may be in flight at once (1: one after another). */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`txns in flight: ${limit}, want >= 1`);
  }

  /** Txns sent and not yet stored. */
  get inFlight(): number {
    let n = 0;
    for (const f of this.flights) if (!f.done) n++;
    return n;
  }

  /** The last unit stored together with every unit before it. */
  get storedSeq(): number {
    return this.stored;
  }

  /**
   * Whether a txn writing `keys` may be sent now: a slot is free and no txn in flight writes
   * any of its keys. Otherwise it waits (and so does every txn after it: txns go in order).
   */
  mayStart(keys: TxnKeys): boolean {
    return this.inFlight < this.limit && !this.conflicts(keys);
  }

  /** Records `keys` as sent. The caller checked mayStart. */
  start(keys: TxnKeys, completeSeq: number): InFlight {
    const f: InFlight = { id: ++this.nextId, keys, completeSeq, done: false };
    this.flights.push(f);
    for (const k of keys.keys) this.keyCount.set(k, (this.keyCount.get(k) ?? 0) + 1);
    return f;
  }

  /**
   * Marks `f` stored and frees its keys. Returns the new storedSeq: it moves only over the
   * prefix of txns that are all stored, so a txn that finishes early waits for those before it.
   */
  finish(f: InFlight): number {
    if (f.done) return this.stored;
    f.done = true;
    for (const k of f.keys.keys) {
      const n = (this.keyCount.get(k) ?? 0) - 1;
      if (n > 0) this.keyCount.set(k, n);
      else this.keyCount.delete(k);
    }
    while (this.flights.length > 0 && this.flights[0]!.done) {
      const head = this.flights.shift()!;
      if (head.completeSeq > this.stored) this.stored = head.completeSeq;
    }
    return this.stored;
  }

  private conflicts(keys: TxnKeys): boolean {
    if (this.flights.length === 0) return false;
    const ranges: Array<{ from: string; to: string }> = [];
    for (const f of this.flights) if (!f.done) for (const r of f.keys.ranges) ranges.push(r);
    for (const k of keys.keys) {
      if (this.keyCount.has(k)) return true;
      for (const r of ranges) if (r.from <= k && k < r.to) return true;
    }
    for (const r of keys.ranges) {
      for (const k of this.keyCount.keys()) if (r.from <= k && k < r.to) return true;
      for (const o of ranges) if (r.from < o.to && o.from < r.to) return true;
    }
    return false;
  }
}
