// A prefix of etcd mirrored in memory. Reads are synchronous, from the mirror. A follower
// keeps the mirror current by watching etcd; once promoted (it leads), it is the prefix's only
// writer: a write changes the mirror at once and goes to etcd in the batch of this turn of
// the event loop (like SQLite's group commit), and what must not be promised before it is
// stored waits for afterCommit.
//
// Fencing: every txn compares create_revision(fence.key) with the revision the leadership key
// had when this writer won. A deposed writer's key is gone (its lease expired) or is another
// candidate's, so its txns are refused; from the first refusal on, nothing more is written
// and nothing that waited for a write runs.
//
// Several txns may be in flight at once (maxTxnsInFlight), so a burst of writes does not wait
// on a chain of etcd round trips: txns that write a common key are still sent one after the
// other (txn-window.ts says which may go), and a waiter runs once every write made before it
// is stored, in order. Txns in flight together are applied by etcd in any order; if the fence
// is lost while several are in flight, a later one may have been stored while an earlier one
// is refused (each unit stays whole, and neither is acknowledged).
import type { Etcd3, ICompare, IKeyValue, IRequestOp, Watcher } from "etcd3";
import type { Logger } from "../logger.js";
import { prefixEnd, takeTxn, type TxnPlan, type WriteOp, type WriteUnit } from "./txn-plan.js";
import { type InFlight, keysOf, type TxnKeys, TxnWindow } from "./txn-window.js";

/** The leadership key a writer holds, and its create revision when this writer won it. */
export interface Fence {
  key: string;
  createRevision: string;
}

/** A txn's fence compare failed: another writer leads (or none does); this one is deposed. */
export class FenceLostError extends Error {
  override readonly name = "FenceLostError";
  constructor(
    readonly fence: Fence,
    readonly prefix: string,
  ) {
    super(
      `leadership key ${fence.key} no longer has create revision ${fence.createRevision}: writes refused`,
    );
  }
}

/** A write on a mirror that is not (or no longer) the writer. */
export class ReadOnlyMirrorError extends Error {
  override readonly name = "ReadOnlyMirrorError";
  constructor(readonly prefix: string) {
    super(`the mirror of ${prefix} is a read-only follower (not promoted)`);
  }
}

/** The mirror was closed before what was asked could be done. */
export class MirrorClosedError extends Error {
  override readonly name = "MirrorClosedError";
  constructor(readonly prefix: string) {
    super(`the mirror of ${prefix} is closed`);
  }
}

export interface MirroredKvInit {
  /** A root client (not a namespace): keys are written as prefix + key. */
  client: Etcd3;
  prefix: string;
  logger: Logger;
  /** etcd's --max-txn-ops (128 by default). */
  maxTxnOps?: number;
  /** Bytes of keys and values per txn, under etcd's request limit (1.5 MiB by default). */
  maxTxnBytes?: number;
  /**
   * Txns sent to etcd before the first is stored (1: one after another). Txns that write a
   * common key never overlap, whatever this is.
   */
  maxTxnsInFlight?: number;
  /** A call to etcd that has not answered by then is given up and retried. */
  callTimeoutMs?: number;
  /** Retry delays while etcd is unreachable: from min, doubling, up to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** close() waits this long for pending writes to be stored, then drops them. */
  closeGraceMs?: number;
}

interface Waiter {
  seq: number;
  fn: () => void;
  fail?: (err: Error) => void;
}

const PAGE = 1000;
/** Enough to keep etcd's raft pipeline busy (it fsyncs the txns that arrive together at once). */
const DEFAULT_TXNS_IN_FLIGHT = 8;

export class MirroredKv {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly log: Logger;
  private readonly limits;
  private readonly callTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly closeGraceMs: number;
  private readonly maxTxnsInFlight: number;

  private readonly data = new Map<string, string>();
  private rev = 0;
  private watcher: Watcher | undefined;
  /** Whether this mirror follows etcd by watch (until promoted or closed). */
  private following = true;
  private loads = 0;
  private closed = false;

  private fence: Fence | undefined;
  private lost: FenceLostError | undefined;
  private readonly queue: WriteUnit[] = [];
  private readonly waiters: Waiter[] = [];
  private enqueuedSeq = 0;
  private committedSeq = 0;
  /** The txns in flight; replaced on promotion, so a txn of an earlier term cannot finish in it. */
  private window: TxnWindow;
  /** Taken from the queue, waiting for the window (a free slot, its keys out of flight). */
  private next: { plan: TxnPlan; keys: TxnKeys } | undefined;
  private pumpScheduled = false;
  /** Txns being sent, each owned here until it ends (stored, refused or given up at close). */
  private readonly sending = new Set<Promise<void>>();
  private readonly retryTimers = new Set<{ cancel: () => void }>();
  private splitTold = false;

  // The unit being built: its ops, and the undo log that rolls a throwing fn back.
  private depth = 0;
  private openOps: WriteOp[] = [];
  /** Callbacks registered inside the open unit: they wait for it, whatever its size. */
  private openWaiters: Waiter[] = [];
  private undo: Array<[string, string | undefined]> = [];

  /** Once: a txn's fence compare failed. Nothing is written after it. */
  onFenceLost?: (err: Error) => void;
  /** Follower: each key the watch (or a resync) changed; undefined = deleted. */
  onChange?: (key: string, value: string | undefined) => void;

  private constructor(init: MirroredKvInit) {
    this.client = init.client;
    this.prefix = init.prefix;
    this.log = init.logger;
    this.limits = { maxOps: init.maxTxnOps ?? 128, maxBytes: init.maxTxnBytes ?? 1024 * 1024 };
    this.callTimeoutMs = init.callTimeoutMs ?? 5_000;
    this.retryMinMs = init.retryMinMs ?? 50;
    this.retryMaxMs = init.retryMaxMs ?? 2_000;
    this.closeGraceMs = init.closeGraceMs ?? 2_000;
    this.maxTxnsInFlight = init.maxTxnsInFlight ?? DEFAULT_TXNS_IN_FLIGHT;
    this.window = new TxnWindow(this.maxTxnsInFlight);
  }

  /** Loads everything under `prefix`, then follows it by watch (a read-only follower). */
  static async open(init: MirroredKvInit): Promise<MirroredKv> {
    const kv = new MirroredKv(init);
    await kv.load();
    await kv.follow();
    return kv;
  }

  /** The etcd revision the mirror reflects. */
  get revision(): string {
    return String(this.rev);
  }

  /** Whether promote() succeeded and no txn has been refused since. */
  get writable(): boolean {
    return this.fence !== undefined && this.lost === undefined && !this.closed;
  }

  /** Txns sent to etcd and not yet stored (at most maxTxnsInFlight). */
  get txnsInFlight(): number {
    return this.window.inFlight;
  }

  get(key: string): string | undefined {
    return this.data.get(key);
  }

  /** Every key under `subPrefix` with its value, sorted by key. */
  range(subPrefix: string): Array<[key: string, value: string]> {
    const out: Array<[string, string]> = [];
    for (const [k, v] of this.data) if (k.startsWith(subPrefix)) out.push([k, v]);
    return out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  }

  /** Whether any key lies under `subPrefix` (without sorting them). */
  has(subPrefix: string): boolean {
    for (const k of this.data.keys()) if (k.startsWith(subPrefix)) return true;
    return false;
  }

  put(key: string, value: string): void {
    this.write({ kind: "put", key, value }, [[key, this.data.get(key)]]);
    this.data.set(key, value);
  }

  delete(key: string): void {
    if (!this.data.has(key)) {
      this.assertWriter();
      return;
    }
    this.write({ kind: "delete", key }, [[key, this.data.get(key)]]);
    this.data.delete(key);
  }

  deletePrefix(subPrefix: string): void {
    this.deleteRange(subPrefix, prefixEnd(subPrefix));
  }

  /** Deletes every key in [from, to) (compared as strings: keep keys ASCII). */
  deleteRange(from: string, to: string): void {
    const removed: Array<[string, string]> = [];
    for (const [k, v] of this.data) if (from <= k && k < to) removed.push([k, v]);
    this.write({ kind: "deleteRange", from, to, removed: removed.map(([k]) => k) }, removed);
    for (const [k] of removed) this.data.delete(k);
  }

  /**
   * Runs `fn` (synchronous) so that its writes go to etcd in one txn. If it throws, its writes
   * are undone in the mirror and never sent. Nested units join the outer one; an inner throw
   * undoes only the inner writes (like a savepoint).
   */
  unit<T>(fn: () => T): T {
    this.assertWriter();
    const outer = this.depth === 0;
    const opsMark = this.openOps.length;
    const undoMark = this.undo.length;
    this.depth++;
    try {
      return fn();
    } catch (err) {
      for (let i = this.undo.length - 1; i >= undoMark; i--) {
        const [k, v] = this.undo[i]!;
        if (v === undefined) this.data.delete(k);
        else this.data.set(k, v);
      }
      this.undo.length = undoMark;
      this.openOps.length = opsMark;
      // Nothing of a failed unit is stored: what waited for it is never told.
      if (outer) this.openWaiters = [];
      throw err;
    } finally {
      this.depth--;
      if (outer) {
        const ops = this.openOps;
        const waiters = this.openWaiters;
        this.openOps = [];
        this.openWaiters = [];
        this.undo = [];
        if (ops.length > 0) this.enqueue(ops);
        for (const w of waiters) this.addWaiter({ ...w, seq: this.enqueuedSeq });
      }
    }
  }

  /**
   * Runs `fn` once everything written so far is stored in etcd: at once if nothing is pending.
   * Inside a unit: once the unit is stored. Never, if the fence is lost or the mirror closed
   * first, or if the unit it was registered in throws.
   */
  afterCommit(fn: () => void): void {
    if (this.depth > 0) this.openWaiters.push({ seq: 0, fn });
    else this.addWaiter({ seq: this.enqueuedSeq, fn });
  }

  /** Resolves once everything written so far is stored; rejects if that can no longer happen. */
  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.addWaiter({ seq: this.enqueuedSeq, fn: resolve, fail: reject });
    });
  }

  /**
   * Leads: makes sure the mirror holds the prefix at a revision at least the fence's (so every
   * write of the previous writer is in it): the warm copy when it is current, else a reload;
   * stops following, and accepts writes from then on.
   */
  async promote(fence: Fence): Promise<void> {
    if (this.closed) throw new MirrorClosedError(this.prefix);
    const caughtUp = await this.caughtUp(fence);
    this.following = false;
    await this.unfollow();
    let delay = this.retryMinMs;
    while (!caughtUp) {
      try {
        await this.load();
        if (this.rev >= Number(fence.createRevision)) break;
        throw new Error(`etcd answered at revision ${this.rev}, before the fence's ${fence.createRevision}`);
      } catch (err) {
        if (this.closed) throw new MirrorClosedError(this.prefix);
        this.log.warn("promotion: loading the registry from etcd failed; retrying", {
          prefix: this.prefix,
          err,
        });
        await sleep(delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
    this.fence = fence;
    this.lost = undefined;
    // Txns of an earlier term (refused, or given up) never finish in the new window.
    this.window = new TxnWindow(this.maxTxnsInFlight);
    this.next = undefined;
  }

  /**
   * Whether the warm copy already holds what etcd holds, at a revision at or after the fence's
   * (then this.rev is that revision): a few looks, a moment apart, while the watch delivers
   * the last events. Most often it does, and one small read replaces loading the whole prefix
   * again, which at 10,000 tasks takes over a second of a takeover.
   */
  private async caughtUp(fence: Fence): Promise<boolean> {
    for (let look = 1; look <= 5; look++) {
      if (this.closed || !this.following || !this.watcher) return false;
      const at = await this.currentAt().catch(() => undefined);
      if (at !== undefined && at >= Number(fence.createRevision)) {
        this.rev = at;
        this.log.debug("promoted on the warm copy", { prefix: this.prefix, revision: at, looks: look });
        return true;
      }
      await sleep(20 * look);
    }
    return false;
  }

  /**
   * The revision at which etcd holds exactly the mirror, or undefined when the mirror is
   * behind. One read-only txn, at one revision, lists the keys under the prefix written after
   * the mirror's revision, and counts all the keys there: none written since means every key there
   * is unchanged since then (so the mirror has it), and as many as the mirror holds means
   * none was deleted either.
   */
  private async currentAt(): Promise<number | undefined> {
    const rev = this.rev;
    const key = Buffer.from(this.prefix);
    const range_end = bytesPrefixEnd(key);
    const res = await this.client.kv.txn(
      {
        compare: [],
        success: [
          // Keys, not a count: etcd counts the range before it applies min_mod_revision.
          { request_range: { key, range_end, keys_only: true, min_mod_revision: String(rev + 1) } },
          { request_range: { key, range_end, count_only: true } },
        ],
        failure: [],
      },
      { deadline: new Date(Date.now() + this.callTimeoutMs) },
    );
    // The watch applied more meanwhile: the counts are of another revision than the mirror's.
    if (this.rev !== rev) return undefined;
    const written = res.responses[0]?.response_range?.kvs.length ?? -1;
    const total = Number(res.responses[1]?.response_range?.count ?? -1);
    return written === 0 && total === this.data.size ? Number(res.header.revision) : undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.writable && this.enqueuedSeq > this.committedSeq) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.flush().catch(() => undefined),
        new Promise((r) => {
          timer = setTimeout(r, this.closeGraceMs);
        }),
      ]);
      clearTimeout(timer);
    }
    this.closed = true;
    this.following = false;
    for (const t of [...this.retryTimers]) t.cancel();
    this.dropWaiters(new MirrorClosedError(this.prefix));
    this.queue.length = 0;
    this.next = undefined;
    await this.unfollow();
    // A txn in flight is not awaited: it ends at its deadline (or when the client closes),
    // and the pump stops there.
  }

  // --- writing ---

  private assertWriter(): void {
    if (this.fence === undefined || this.closed) throw new ReadOnlyMirrorError(this.prefix);
  }

  private write(op: WriteOp, previous: Array<[string, string | undefined]>): void {
    this.assertWriter();
    if (this.depth > 0) {
      this.openOps.push(op);
      for (const p of previous) this.undo.push(p);
    } else {
      this.enqueue([op]);
    }
  }

  private enqueue(ops: WriteOp[]): void {
    // Deposed: the mirror may change (the caller is about to stop), etcd may not.
    if (this.lost) return;
    this.queue.push({ seq: ++this.enqueuedSeq, ops });
    this.kick();
  }

  /**
   * Schedules the pump for the end of this turn of the event loop, so the rest of the turn's
   * writes join the batch.
   */
  private kick(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      try {
        this.pump();
      } catch (err) {
        this.log.error("the etcd write pump failed", { prefix: this.prefix, err });
      }
    });
  }

  /** Sends txns from the head of the queue, in order, while the window lets the next one go. */
  private pump(): void {
    while (this.writable) {
      if (!this.next) {
        if (this.queue.length === 0) return;
        const { plan, split } = takeTxn(this.queue, this.limits);
        if (split) {
          // Said once at warn level (the operator may raise etcd's --max-txn-ops and
          // maxTxnOps), then at debug: a big Accept does it every time.
          const msg =
            "a unit larger than one etcd txn is written in several (not atomically; each key in order)";
          const fields = { prefix: this.prefix, maxTxnOps: this.limits.maxOps };
          if (this.splitTold) this.log.debug(msg, fields);
          else this.log.warn(msg, fields);
          this.splitTold = true;
        }
        this.next = { plan, keys: keysOf(plan) };
      }
      // Full, or a key of it still in flight: a txn that ends calls the pump again.
      if (!this.window.mayStart(this.next.keys)) return;
      const { plan, keys } = this.next;
      this.next = undefined;
      const flight = this.window.start(keys, plan.completeSeq);
      const sent: Promise<void> = this.send(this.window, flight, plan, this.fence!)
        .catch((err) => this.log.error("an etcd write failed", { prefix: this.prefix, err }))
        .finally(() => this.sending.delete(sent));
      this.sending.add(sent);
    }
  }

  private async send(window: TxnWindow, flight: InFlight, plan: TxnPlan, fence: Fence): Promise<void> {
    if (plan.opCount > 0 && !(await this.commitWithRetry(plan, fence))) return;
    // Refused, closed, or promoted again meanwhile: this txn's window is gone.
    if (window !== this.window || !this.writable) return;
    const stored = window.finish(flight);
    if (stored > this.committedSeq) this.committedSeq = stored;
    this.runWaiters();
    this.kick();
  }

  private addWaiter(w: Waiter): void {
    if (this.closed) w.fail?.(new MirrorClosedError(this.prefix));
    else if (this.lost) w.fail?.(this.lost);
    else if (w.seq <= this.committedSeq) w.fn();
    else this.waiters.push(w);
  }

  /** true: stored. false: refused by the fence, or closed (or deposed by another txn) while retrying. */
  private async commitWithRetry(plan: TxnPlan, fence: Fence): Promise<boolean> {
    const compare: ICompare[] = [
      {
        key: Buffer.from(fence.key),
        target: "Create",
        result: "Equal",
        create_revision: fence.createRevision,
      },
    ];
    const success: IRequestOp[] = [];
    for (const [k, v] of plan.entries) {
      const key = Buffer.from(this.prefix + k);
      success.push(
        v === undefined ? { request_delete_range: { key } } : { request_put: { key, value: Buffer.from(v) } },
      );
    }
    for (const r of plan.ranges) {
      success.push({
        request_delete_range: {
          key: Buffer.from(this.prefix + r.from),
          range_end: Buffer.from(this.prefix + r.to),
        },
      });
    }
    let delay = this.retryMinMs;
    let failures = 0;
    for (;;) {
      if (this.closed || this.lost || this.fence !== fence) return false;
      try {
        const res = await this.client.kv.txn(
          { compare, success },
          { deadline: new Date(Date.now() + this.callTimeoutMs) },
        );
        if (failures > 0) this.log.info("etcd answers again; writes resumed", { prefix: this.prefix });
        if (!res.succeeded) {
          this.fenceLost(fence);
          return false;
        }
        const r = Number(res.header.revision);
        if (r > this.rev) this.rev = r;
        return true;
      } catch (err) {
        if (this.closed) return false;
        failures++;
        // Each failure while etcd is away is the same news: say it once, then every so often.
        if (failures === 1 || failures % 20 === 0) {
          this.log.warn("writing to etcd failed; the batch is retried (nothing is acknowledged meanwhile)", {
            prefix: this.prefix,
            ops: plan.opCount,
            failures,
            err,
          });
        }
        await this.wait(delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const handle = {
        cancel: () => {
          clearTimeout(timer);
          this.retryTimers.delete(handle);
          resolve();
        },
      };
      const timer = setTimeout(handle.cancel, ms);
      this.retryTimers.add(handle);
    });
  }

  private fenceLost(fence: Fence): void {
    // Several txns in flight may be refused: the loss is told once.
    if (this.lost || this.fence !== fence) return;
    const err = new FenceLostError(fence, this.prefix);
    this.lost = err;
    this.queue.length = 0;
    this.next = undefined;
    this.log.error("etcd refused a write: this writer no longer holds its leadership key", {
      prefix: this.prefix,
      key: fence.key,
    });
    this.dropWaiters(err);
    try {
      this.onFenceLost?.(err);
    } catch (e) {
      this.log.error("onFenceLost threw", { err: e });
    }
  }

  private runWaiters(): void {
    while (this.waiters.length > 0 && this.waiters[0]!.seq <= this.committedSeq) {
      const w = this.waiters.shift()!;
      try {
        w.fn();
      } catch (err) {
        this.log.error("an afterCommit callback threw", { err });
      }
    }
  }

  private dropWaiters(err: Error): void {
    for (const w of this.waiters.splice(0)) w.fail?.(err);
  }

  // --- following ---

  /** Replaces the mirror with a consistent snapshot of the prefix (paged at one revision). */
  private async load(): Promise<void> {
    const gen = ++this.loads;
    const start = Buffer.from(this.prefix);
    const end = bytesPrefixEnd(start);
    const fresh = new Map<string, string>();
    let key = start;
    let at: string | undefined;
    for (;;) {
      const res = await this.client.kv.range(
        { key, range_end: end, limit: PAGE, ...(at ? { revision: at } : {}) },
        { deadline: new Date(Date.now() + this.callTimeoutMs) },
      );
      at ??= res.header.revision;
      for (const kv of res.kvs) fresh.set(this.rel(kv), kv.value.toString());
      if (!res.more || res.kvs.length === 0) break;
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    // A later load (a promotion during a resync) wins: never step back to an older snapshot.
    if (gen !== this.loads) throw new Error("superseded by a later load");
    for (const [k, v] of this.data) {
      if (fresh.has(k)) continue;
      this.data.delete(k);
      this.emitChange(k, undefined, v);
    }
    for (const [k, v] of fresh) {
      const old = this.data.get(k);
      if (old === v) continue;
      this.data.set(k, v);
      this.emitChange(k, v, old);
    }
    this.rev = Number(at);
  }

  private async follow(): Promise<void> {
    const watcher = await this.client
      .watch()
      .prefix(this.prefix)
      .startRevision(String(this.rev + 1))
      .create();
    if (!this.following) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on("data", (res) => {
      if (this.watcher !== watcher) return;
      let last = 0;
      for (const ev of res.events) {
        const k = this.rel(ev.kv);
        const old = this.data.get(k);
        if (ev.type === "Put") {
          const v = ev.kv.value.toString();
          this.data.set(k, v);
          this.emitChange(k, v, old);
        } else if (old !== undefined) {
          this.data.delete(k);
          this.emitChange(k, undefined, old);
        }
        last = Math.max(last, Number(ev.kv.mod_revision));
      }
      const r = res.events.length > 0 ? last : Number(res.header.revision);
      if (r > this.rev) this.rev = r;
    });
    watcher.on("disconnected", (err) => {
      this.log.debug("etcd watch disconnected; it resumes from the last revision", { err });
    });
    // Canceled by etcd (e.g. the revision to resume from was compacted): load afresh.
    watcher.on("error", (err) => {
      if (this.watcher !== watcher) return;
      this.log.warn("etcd watch canceled; reloading the mirror", { prefix: this.prefix, err });
      this.watcher = undefined;
      void this.resync(watcher);
    });
  }

  private async resync(old: Watcher): Promise<void> {
    await old.cancel().catch(() => undefined);
    let delay = this.retryMinMs;
    while (this.following) {
      try {
        await this.load();
        if (!this.following) return;
        await this.follow();
        return;
      } catch (err) {
        this.log.warn("reloading the mirror from etcd failed; retrying", {
          prefix: this.prefix,
          err,
        });
        await sleep(delay);
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
  }

  private async unfollow(): Promise<void> {
    const w = this.watcher;
    this.watcher = undefined;
    if (w) await w.cancel().catch(() => undefined);
  }

  private emitChange(key: string, value: string | undefined, old: string | undefined): void {
    if (value === old || !this.onChange) return;
    try {
      this.onChange(key, value);
    } catch (err) {
      this.log.error("onChange threw", { key, err });
    }
  }

  private rel(kv: IKeyValue): string {
    return kv.key.toString().slice(this.prefix.length);
  }
}

/** The end of the range of every key that starts with `key` (etcd's prefix range_end). */
function bytesPrefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
