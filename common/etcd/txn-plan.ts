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
  /** Every key in [from, to); `removed`: the keys the mirror held there when it was deleted. */
  | { kind: "deleteRange"; from: string; to: string; removed: readonly string[] };

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

/** The first key after every key that starts with `prefix` (keys are compared as strings). */
export function prefixEnd(prefix: string): string {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const c = prefix.charCodeAt(i);
    if (c < 0xffff) return prefix.slice(0, i) + String.fromCharCode(c + 1);
  }
  return "\u0000";
}

export interface DeletedRange {
  from: string;
  to: string;
  removed: Set<string>;
}

/** One etcd txn to be: single keys (undefined = delete) and deleted ranges. */
export class TxnPlan {
  readonly entries = new Map<string, string | undefined>();
  readonly ranges: DeletedRange[] = [];
  /** The last unit whose every op is in this txn or an earlier one. */
  completeSeq = 0;
  private bytes = 0;

  get opCount(): number {
    return this.entries.size + this.ranges.length;
  }

  get byteCount(): number {
    return this.bytes;
  }

  apply(op: WriteOp): void {
    switch (op.kind) {
      case "put": {
        this.bytes += op.key.length + op.value.length;
        for (let i = this.ranges.length - 1; i >= 0; i--) {
          const r = this.ranges[i]!;
          if (!covers(r, op.key)) continue;
          // Keep the range's effect without the range: delete what it removed, one key each.
          this.ranges.splice(i, 1);
          for (const k of r.removed) if (!this.entries.has(k)) this.setEntry(k, undefined);
        }
        this.setEntry(op.key, op.value);
        return;
      }
      case "delete":
        this.bytes += op.key.length;
        if (!this.ranges.some((r) => covers(r, op.key))) this.setEntry(op.key, undefined);
        return;
      case "deleteRange": {
        const outer = this.ranges.find((r) => r.from <= op.from && op.to <= r.to);
        if (outer) {
          for (const k of op.removed) outer.removed.add(k);
          return;
        }
        this.bytes += op.from.length + op.to.length;
        const range: DeletedRange = { from: op.from, to: op.to, removed: new Set(op.removed) };
        for (const k of [...this.entries.keys()]) if (covers(range, k)) this.entries.delete(k);
        for (let i = this.ranges.length - 1; i >= 0; i--) {
          const r = this.ranges[i]!;
          if (!(range.from <= r.from && r.to <= range.to)) continue;
          for (const k of r.removed) range.removed.add(k);
          this.ranges.splice(i, 1);
        }
        this.ranges.push(range);
        return;
      }
    }
  }

  private setEntry(key: string, value: string | undefined): void {
    // Re-inserted at the end: no key appears twice in a txn, so the order of its ops does not
    // matter to etcd; it only keeps plans deterministic.
    this.entries.delete(key);
    this.entries.set(key, value);
  }

  clone(): TxnPlan {
    const c = new TxnPlan();
    for (const [k, v] of this.entries) c.entries.set(k, v);
    for (const r of this.ranges) c.ranges.push({ from: r.from, to: r.to, removed: new Set(r.removed) });
    c.completeSeq = this.completeSeq;
    c.bytes = this.bytes;
    return c;
  }
}

function covers(r: { from: string; to: string }, key: string): boolean {
  return r.from <= key && key < r.to;
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
