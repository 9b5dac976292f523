// A lease-based leader election on etcd, shared by the masters and by frameworks.
//
// Layout under the election's prefix P (the master uses `<etcd prefix>/election`):
//   P/candidates/<lease id, hex>  the candidate's value, bound to its lease
//   P/term                        JSON {term, key, createRevision}: the last claimed leadership
// The candidate whose key has the lowest create revision leads. Create revisions only grow,
// so once a candidate is the lowest it stays the leader until its key goes (lease expired or
// revoked): nobody can arrive before it. Each candidate waits for the deletion of the one just
// before it (no thundering herd), then re-reads the list.
//
// The term is a counter stored in P/term, incremented by the new leader in one transaction
// conditioned on its own candidate key still existing (so a deposed candidate cannot claim)
// and on P/term not having moved since it was read. It counts leaderships, survives
// restarts of every candidate, and is what `yardctl get masters` shows.
//
// Loss. etcd expires a lease TTL seconds after the last keepalive it received. A leader stops
// SERVING (held() turns false) when no keepalive it SENT within the last 2/3 TTL was answered:
// its lease is then still alive in etcd for at least TTL/3, so it stops before anyone else can
// be elected. It does not give the leadership up yet: it asks etcd at once. A keepalive that
// etcd answers proves the lease never expired, so the key is still there and still the lowest
// (nobody else can have been elected), and serving resumes. This is what keeps a leader whose
// event loop stalled for a second or two (a takeover under load) from stepping down for
// nothing. The leadership ends when etcd says the lease is gone, or when nothing has been
// answered for TTL + TTL/3 (etcd unreachable: the lease has expired by then). The fence (the
// leader's key and its create revision) is what writes compare on: a deposed leader that still
// runs cannot write, whatever its clock says.
import type { Etcd3, IKeyValue, Lease } from "etcd3";
import { EtcdLeaseInvalidError } from "etcd3";
import type { Logger } from "../logger.js";

/** What a leader holds while it leads; `lost` resolves (and `signal` aborts) once, when it ends. */
export interface Leadership {
  /** The leader's candidate key (absolute etcd key): the fence that its writes compare on. */
  key: string;
  /** The candidate key's create revision: a write is fenced by create_revision(key) == this. */
  createRevision: string;
  /** 1 for the first leader ever under this prefix, previous + 1 for each next one. */
  term: number;
  /** Resolves with the reason once leadership is lost (lease expired or lost, resigned). */
  lost: Promise<Error>;
  /** Aborts (with the same reason) when leadership is lost. */
  signal: AbortSignal;
  /**
   * A synchronous check for callers that serve requests: false once leadership is lost, and also
   * while the keepalive deadline has passed, even if the timer that notices it has not run yet (a
   * process resumed from SIGSTOP handles pending I/O before its timers). Past the deadline the
   * leadership is not over yet (`signal` is not aborted): if etcd answers a keepalive, held()
   * is true again. Use `signal.aborted` to ask whether it ended.
   */
  held(): boolean;
}

/** Why a leadership or a candidacy ended. */
export class LeadershipLostError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "LeadershipLostError";
  }
}

/** `resign()` was called: the pending `won()` rejects with it and a leadership's `lost` resolves with it. */
export class CampaignResignedError extends LeadershipLostError {
  constructor() {
    super("resigned");
    this.name = "CampaignResignedError";
  }
}

/** The content of P/term. */
export interface TermRecord {
  term: number;
  key: string;
  createRevision: string;
}

export interface CampaignInit {
  client: Etcd3;
  /** The election's own prefix (absolute, no trailing slash needed), e.g. `/yard/election`. */
  prefix: string;
  /** What this candidate announces (the masters announce JSON with their addresses). */
  value: string;
  /** Lease TTL in seconds (etcd's minimum is 1; masters default to 5). */
  ttlSeconds: number;
  logger: Logger;
}

const trimSlash = (p: string) => p.replace(/\/+$/, "");
const candidatesOf = (prefix: string) => `${trimSlash(prefix)}/candidates/`;
const termKeyOf = (prefix: string) => `${trimSlash(prefix)}/term`;
const cmpRev = (a: IKeyValue, b: IKeyValue) => {
  const x = BigInt(a.create_revision);
  const y = BigInt(b.create_revision);
  return x < y ? -1 : x > y ? 1 : 0;
};

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Reads P/term; undefined before the first leader claimed one. */
export async function readTerm(client: Etcd3, prefix: string): Promise<TermRecord | undefined> {
  const raw = await client.get(termKeyOf(prefix)).string();
  if (!raw) return undefined;
  return JSON.parse(raw) as TermRecord;
}

/** The current leader's value and the term it claimed (0 before any), read in one go. */
export async function electionStatus(
  client: Etcd3,
  prefix: string,
): Promise<{ leader?: string; leaderKey?: string; term: number }> {
  const res = await client.getAll().prefix(candidatesOf(prefix)).sort("Create", "Ascend").limit(1).exec();
  const first = res.kvs[0];
  const record = await readTerm(client, prefix);
  if (!first) return { term: record?.term ?? 0 };
  return { leader: first.value.toString(), leaderKey: first.key.toString(), term: record?.term ?? 0 };
}

/**
 * One candidacy: a lease, a key bound to it, and the keepalive loop that decides when the
 * candidacy (and any leadership built on it) is over. Ends once; never comes back.
 */
class Candidacy {
  readonly controller = new AbortController();
  readonly lost: Promise<Error>;
  key = "";
  createRevision = "";
  #resolveLost!: (e: Error) => void;
  #lastAnsweredSentAt = Date.now();
  #tick?: NodeJS.Timeout;
  #deadlineTimer?: NodeJS.Timeout;
  #inflight = false;
  #paused = false;

  constructor(
    readonly lease: Lease,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {
    this.lost = new Promise((r) => {
      this.#resolveLost = r;
    });
    lease.on("lost", (err) => this.end(new LeadershipLostError("lease lost", { cause: err })));
  }

  /** Serving stops at this time (ms since epoch) unless a keepalive is answered before. */
  get deadline(): number {
    return this.#lastAnsweredSentAt + (this.ttlMs * 2) / 3;
  }

  /** Nothing answered until then: etcd has expired the lease (or cannot be reached): ended. */
  get giveUpAt(): number {
    return this.#lastAnsweredSentAt + (this.ttlMs * 4) / 3;
  }

  get ended(): boolean {
    return this.controller.signal.aborted;
  }

  /** May serve now: not ended and within the deadline. Past it, asks etcd (see the file's comment). */
  held(): boolean {
    if (this.ended) return false;
    if (Date.now() < this.deadline) return true;
    this.#check();
    return false;
  }

  /** Logs the pause once: operators see when and why the leader stopped serving. */
  #pause(now: number): void {
    if (this.#paused || this.ended) return;
    this.#paused = true;
    this.logger.warn("lease keepalive overdue: not serving until etcd answers", {
      unansweredMs: now - this.#lastAnsweredSentAt,
    });
  }

  /** Starts the keepalive loop; `grantedAt` is when the grant was sent (the lease's first life). */
  start(grantedAt: number): void {
    this.#lastAnsweredSentAt = grantedAt;
    // Six keepalives per TTL: the serving rule (2/3 TTL) then tolerates three lost in a row.
    this.#tick = setInterval(() => this.#keepalive(), Math.max(100, Math.floor(this.ttlMs / 6)));
    this.#armDeadline();
  }

  /** One keepalive now; resolves true when answered (used before claiming leadership). */
  async refresh(): Promise<boolean> {
    const sentAt = Date.now();
    try {
      await this.lease.keepaliveOnce({ deadline: sentAt + this.ttlMs / 3 });
      if (!this.ended) {
        this.#lastAnsweredSentAt = Math.max(this.#lastAnsweredSentAt, sentAt);
        this.#armDeadline();
        if (this.#paused && Date.now() < this.deadline) {
          this.#paused = false;
          this.logger.info("lease keepalive answered: serving again");
        }
      }
      return !this.ended;
    } catch (err) {
      if (err instanceof EtcdLeaseInvalidError)
        this.end(new LeadershipLostError("lease expired in etcd", { cause: err }));
      else this.logger.debug("lease keepalive failed", { err });
      return false;
    }
  }

  /** Past the deadline: ends the candidacy once it is past giving up, else asks etcd now. */
  #check(): void {
    if (this.ended) return;
    const now = Date.now();
    if (now >= this.giveUpAt) {
      this.end(
        new LeadershipLostError(`no lease keepalive answered for ${now - this.#lastAnsweredSentAt} ms`),
      );
      return;
    }
    if (now >= this.deadline) {
      this.#pause(now);
      this.#keepalive();
    }
  }

  #keepalive(): void {
    if (this.ended || this.#inflight) return;
    this.#inflight = true;
    this.refresh()
      .catch(() => false)
      .finally(() => {
        this.#inflight = false;
        if (Date.now() >= this.deadline) this.#check(); // still unanswered: try again at once
      });
  }

  #armDeadline(): void {
    clearTimeout(this.#deadlineTimer);
    if (this.ended) return;
    const now = Date.now();
    const at = now < this.deadline ? this.deadline : this.giveUpAt;
    this.#deadlineTimer = setTimeout(
      () => {
        this.#check();
        this.#armDeadline();
      },
      Math.max(0, at - now) + 1,
    );
  }

  /** Ends the candidacy: stops keepalives, aborts waiters, revokes the lease so a successor need not wait for its expiry. */
  end(reason: Error): void {
    if (this.ended) return;
    clearInterval(this.#tick);
    clearTimeout(this.#deadlineTimer);
    this.controller.abort(reason);
    this.#resolveLost(reason);
    // Best effort: if etcd is unreachable the lease expires by itself.
    this.lease
      .revoke({ deadline: Date.now() + this.ttlMs })
      .catch((err) => this.logger.debug("lease revoke failed", { err }));
  }
}

/**
 * A candidate in one election. `won()` campaigns until this candidate leads; after a loss it
 * may be called again and campaigns anew (a new lease, a new key, a later place in line).
 */
export class Campaign {
  readonly #client: Etcd3;
  readonly #prefix: string;
  readonly #value: string;
  readonly #ttlMs: number;
  readonly #logger: Logger;
  #candidacy?: Candidacy;
  #leadership?: Leadership;
  #pending?: Promise<Leadership>;
  /** Bumped by resign(): a campaign loop started before it gives up. */
  #generation = 0;

  constructor(init: CampaignInit) {
    if (!Number.isInteger(init.ttlSeconds) || init.ttlSeconds < 1)
      throw new RangeError(`ttlSeconds: ${init.ttlSeconds} is not an integer of at least 1`);
    this.#client = init.client;
    this.#prefix = trimSlash(init.prefix);
    this.#value = init.value;
    this.#ttlMs = init.ttlSeconds * 1000;
    this.#logger = init.logger;
  }

  /** Resolves when this candidate leads. Rejects only with CampaignResignedError (resign() was called). */
  won(): Promise<Leadership> {
    // Not held() but ended: a leader that stopped serving while it asks etcd still leads.
    if (this.#leadership && !this.#leadership.signal.aborted) return Promise.resolve(this.#leadership);
    if (!this.#pending) {
      this.#pending = this.#campaign(this.#generation).finally(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  /** The current leader's value, read from etcd; undefined when no candidate stands. */
  async leader(): Promise<string | undefined> {
    return (await electionStatus(this.#client, this.#prefix)).leader;
  }

  /**
   * Calls fn with the leader's value now and on every change (undefined: nobody stands).
   * Follows etcd through disconnections; returns the function that stops it.
   */
  observe(fn: (value: string | undefined) => void): () => void {
    const stop = new AbortController();
    this.#follow(fn, stop.signal).catch((err) => this.#logger.error("election observer stopped", { err }));
    return () => stop.abort();
  }

  /** Gives up: the leadership (if any) is lost at once, the key is revoked, the next candidate leads. */
  async resign(): Promise<void> {
    this.#generation++;
    const c = this.#candidacy;
    this.#candidacy = undefined;
    this.#leadership = undefined;
    if (!c) return;
    c.end(new CampaignResignedError());
    // Wait for the revoke to be seen, so that the caller can rely on the hand-over having begun.
    await c.lease.revoke({ deadline: Date.now() + this.#ttlMs }).catch(() => undefined);
  }

  async #campaign(generation: number): Promise<Leadership> {
    let backoff = 100;
    for (;;) {
      if (generation !== this.#generation) throw new CampaignResignedError();
      try {
        const candidacy = await this.#stand(generation);
        await this.#waitFirst(candidacy);
        const leadership = await this.#claim(candidacy);
        if (generation !== this.#generation) throw new CampaignResignedError();
        this.#leadership = leadership;
        this.#logger.info("elected", { prefix: this.#prefix, term: leadership.term });
        return leadership;
      } catch (err) {
        if (err instanceof CampaignResignedError || generation !== this.#generation)
          throw new CampaignResignedError();
        this.#logger.warn("campaign interrupted; standing again", { err });
        await sleep(backoff);
        backoff = Math.min(backoff * 2, this.#ttlMs);
      }
    }
  }

  /** A fresh lease and a candidate key bound to it. */
  async #stand(generation: number): Promise<Candidacy> {
    this.#candidacy?.end(new LeadershipLostError("standing again"));
    const lease = this.#client.lease(this.#ttlMs / 1000, { autoKeepAlive: false });
    const c = new Candidacy(lease, this.#ttlMs, this.#logger);
    this.#candidacy = c;
    const sentAt = Date.now();
    try {
      const id = await lease.grant();
      c.start(sentAt);
      c.key = `${candidatesOf(this.#prefix)}${BigInt(id).toString(16)}`;
      const put = await lease.put(c.key).value(this.#value).exec();
      c.createRevision = put.header.revision;
    } catch (err) {
      c.end(new LeadershipLostError("could not stand", { cause: err }));
      throw err;
    }
    if (generation !== this.#generation) {
      c.end(new CampaignResignedError());
      throw new CampaignResignedError();
    }
    return c;
  }

  /** Returns once c's key is the lowest; throws when the candidacy ends first. */
  async #waitFirst(c: Candidacy): Promise<void> {
    for (;;) {
      if (c.ended) throw c.controller.signal.reason;
      const res = await this.#client.getAll().prefix(candidatesOf(this.#prefix)).exec();
      const kvs = [...res.kvs].sort(cmpRev);
      const at = kvs.findIndex((kv) => kv.key.toString() === c.key);
      if (at < 0) throw new LeadershipLostError("candidate key is gone (lease expired)");
      if (at === 0) return;
      await this.#waitDeleted(kvs[at - 1]!.key.toString(), res.header.revision, c.controller.signal);
    }
  }

  /** Resolves when `key` is deleted after `revision`, or when signal aborts. */
  async #waitDeleted(key: string, revision: string, signal: AbortSignal): Promise<void> {
    const watcher = await this.#client
      .watch()
      .key(key)
      .startRevision((BigInt(revision) + 1n).toString())
      .create();
    try {
      await new Promise<void>((resolve, reject) => {
        watcher.on("delete", () => resolve());
        watcher.on("error", reject);
        signal.addEventListener("abort", () => resolve(), { once: true });
        if (signal.aborted) resolve();
      });
    } finally {
      await watcher.cancel().catch(() => undefined);
    }
  }

  /** Increments the term, conditioned on c's key still existing; returns the leadership. */
  async #claim(c: Candidacy): Promise<Leadership> {
    const termKey = termKeyOf(this.#prefix);
    for (;;) {
      // A fresh keepalive first: the leadership's deadline then starts now, not at the grant.
      if (!(await c.refresh())) {
        if (c.ended) throw c.controller.signal.reason;
        continue;
      }
      const res = await this.#client.get(termKey).exec();
      const kv = res.kvs[0];
      const record = kv ? (JSON.parse(kv.value.toString()) as TermRecord) : undefined;
      let term: number;
      if (record && record.key === c.key && record.createRevision === c.createRevision) {
        term = record.term; // an earlier attempt committed but its answer was lost
      } else {
        term = (record?.term ?? 0) + 1;
        const next: TermRecord = { term, key: c.key, createRevision: c.createRevision };
        const txn = await this.#client
          .if(c.key, "Create", "==", c.createRevision)
          .and(termKey, "Mod", "==", kv ? kv.mod_revision : "0")
          .then(this.#client.put(termKey).value(JSON.stringify(next)))
          .commit();
        if (!txn.succeeded) {
          if (c.ended) throw c.controller.signal.reason;
          continue; // the term moved or our key went: re-read (waitFirst's caller stands again if gone)
        }
      }
      if (c.ended) throw c.controller.signal.reason;
      return {
        key: c.key,
        createRevision: c.createRevision,
        term,
        lost: c.lost,
        signal: c.controller.signal,
        held: () => c.held(),
      };
    }
  }

  async #follow(fn: (value: string | undefined) => void, stop: AbortSignal): Promise<void> {
    const prefix = candidatesOf(this.#prefix);
    let last: string | undefined | null = null; // null: nothing reported yet
    const report = (members: Map<string, IKeyValue>) => {
      const first = [...members.values()].sort(cmpRev)[0];
      const value = first?.value.toString();
      if (value !== last) {
        last = value;
        fn(value);
      }
    };
    let backoff = 100;
    while (!stop.aborted) {
      try {
        const res = await this.#client.getAll().prefix(prefix).exec();
        const members = new Map(res.kvs.map((kv) => [kv.key.toString(), kv]));
        report(members);
        const watcher = await this.#client
          .watch()
          .prefix(prefix)
          .startRevision((BigInt(res.header.revision) + 1n).toString())
          .create();
        try {
          await new Promise<void>((resolve, reject) => {
            watcher.on("put", (kv) => {
              members.set(kv.key.toString(), kv);
              report(members);
            });
            watcher.on("delete", (kv) => {
              members.delete(kv.key.toString());
              report(members);
            });
            watcher.on("error", reject);
            stop.addEventListener("abort", () => resolve(), { once: true });
            if (stop.aborted) resolve();
          });
        } finally {
          await watcher.cancel().catch(() => undefined);
        }
        backoff = 100;
      } catch (err) {
        this.#logger.debug("election observer restarts", { err });
        await sleep(backoff, stop);
        backoff = Math.min(backoff * 2, this.#ttlMs);
      }
    }
  }
}
