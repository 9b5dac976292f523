// Packing a queue of write units into etcd transactions. Pure: no client, no timers.
//
// etcd refuses a txn that puts one key twice, or puts a key inside a range it also deletes
// ("duplicate key given in txn request"), and one with more than --max-txn-ops operations
// (128 by default). So the writes that share a txn are coalesced (the last write of a key
// wins), and a deleted prefix that later gets a put inside it is expanded into the single
// keys it removed. Units are never split between txns, unless one unit alone is larger than
// the limit (then it must be, or it could never be written at all).

export type WriteOp =
  | { kind: "put"; key: string; value: string }
  | { kind: "delete"; key: string }
  /** `removed`: the keys the mirror held under `prefix` when it was deleted. */
  | { kind: "deletePrefix"; prefix: string; removed: readonly string[] };

/** Writes that must land in etcd together (or, if larger than one txn, in order). */
export interface WriteUnit {
  /** Increasing across units: a waiter for seq s runs once every unit up to s is stored. */
  seq: number;
  ops: WriteOp[];
}

export interface TxnLimits {
  maxOps: number;
  /** Keys plus values, in UTF-16 units: a bound well under etcd's request size limit. */
  maxBytes: number;
}

/** One etcd txn to be: single keys (undefined = delete) and deleted prefixes. */
export class TxnPlan {
  readonly entries = new Map<string, string | undefined>();
  readonly ranges = new Map<string, Set<string>>();
  /** The last unit whose every op is in this txn or an earlier one. */
  completeSeq = 0;
  private bytes = 0;

  get opCount(): number {
    return this.entries.size + this.ranges.size;
  }

  get byteCount(): number {
    return this.bytes;
  }

  apply(op: WriteOp): void {
    this.bytes +=
      op.kind === "put" ? op.key.length + op.value.length : op.kind === "delete" ? op.key.length : 0;
    switch (op.kind) {
      case "put": {
        for (const [prefix, removed] of this.ranges) {
          if (!op.key.startsWith(prefix)) continue;
          // Keep the range's effect without the range: delete what it removed, one key each.
          this.ranges.delete(prefix);
          for (const k of removed) if (!this.entries.has(k)) this.setEntry(k, undefined);
        }
        this.setEntry(op.key, op.value);
        return;
      }
      case "delete":
        if (this.coveringRange(op.key) === undefined) this.setEntry(op.key, undefined);
        return;
      case "deletePrefix": {
        const outer = this.coveringRange(op.prefix);
        if (outer !== undefined) {
          for (const k of op.removed) this.ranges.get(outer)!.add(k);
          return;
        }
        const removed = new Set(op.removed);
        for (const k of [...this.entries.keys()]) if (k.startsWith(op.prefix)) this.entries.delete(k);
        for (const [p, keys] of [...this.ranges]) {
          if (!p.startsWith(op.prefix)) continue;
          for (const k of keys) removed.add(k);
          this.ranges.delete(p);
        }
        this.ranges.set(op.prefix, removed);
        this.bytes += op.prefix.length;
        return;
      }
    }
  }

  private setEntry(key: string, value: string | undefined): void {
    // Re-inserted at the end: etcd applies a txn's ops in order, and order must not matter
    // here since no key appears twice; the map order only keeps plans deterministic.
    this.entries.delete(key);
    this.entries.set(key, value);
  }

  private coveringRange(key: string): string | undefined {
    for (const p of this.ranges.keys()) if (key.startsWith(p)) return p;
    return undefined;
  }

  clone(): TxnPlan {
    const c = new TxnPlan();
    for (const [k, v] of this.entries) c.entries.set(k, v);
    for (const [p, keys] of this.ranges) c.ranges.set(p, new Set(keys));
    c.completeSeq = this.completeSeq;
    c.bytes = this.bytes;
    return c;
  }
}

function fits(plan: TxnPlan, limits: TxnLimits): boolean {
  return plan.opCount <= limits.maxOps && plan.byteCount <= limits.maxBytes;
}

/**
 * Takes from the head of `queue` what goes in the next txn: whole units while they fit; a
 * unit that does not fit even alone is cut, its rest left at the head of the queue.
 * `split` is set when that happened (the caller logs it: that unit is not atomic).
 */
export function takeTxn(queue: WriteUnit[], limits: TxnLimits): { plan: TxnPlan; split: boolean } {
  let plan = new TxnPlan();
  let units = 0;
  while (queue.length > 0) {
    const unit = queue[0]!;
    const next = plan.clone();
    for (const op of unit.ops) next.apply(op);
    if (fits(next, limits)) {
      plan = next;
      plan.completeSeq = unit.seq;
      queue.shift();
      units++;
      continue;
    }
    if (units > 0) break;
    // Alone too large: as many of its ops as fit, in order.
    let i = 0;
    while (i < unit.ops.length) {
      const step = plan.clone();
      step.apply(unit.ops[i]!);
      if (!fits(step, limits) && plan.opCount > 0) break;
      plan = step;
      i++;
    }
    unit.ops = unit.ops.slice(i);
    if (unit.ops.length === 0) {
      plan.completeSeq = unit.seq;
      queue.shift();
    }
    return { plan, split: true };
  }
  return { plan, split: false };
}
