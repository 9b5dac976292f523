// What every master in HA mode knows of the others, kept current by watching etcd: the
// running masters (`<prefix>/masters/<id>`, each bound to its master's lease), the election's
// candidates and its term. From it come GetMasters (answered synchronously, by standbys too)
// and the leader's addresses that a standby redirects to.
import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import type { Logger } from "../../common/logger.js";
import type { GetMastersResponse, MasterState } from "../../proto/gen/yard/v1/operator.js";
import type { TermRecord } from "../../common/etcd/election.js";

/** `<prefix>/masters/<id>`: a running master (JSON). */
export interface MasterRecord {
  id: string;
  address: string;
  httpAddress: string;
  role: "leader" | "standby";
  /** Unix seconds since it took its role. */
  since: number;
}

/** The value each master campaigns with: who it is and where to reach it. */
export interface CandidateValue {
  id: string;
  address: string;
  httpAddress: string;
}

export interface LeaderInfo extends CandidateValue {
  term: number;
  /** The etcd lease its candidate key is bound to (decimal). */
  lease: string;
}

const cmpRev = (a: IKeyValue, b: IKeyValue) => {
  const x = BigInt(a.create_revision);
  const y = BigInt(b.create_revision);
  return x < y ? -1 : x > y ? 1 : 0;
};

function parse<T>(kv: IKeyValue | undefined): T | undefined {
  if (!kv) return undefined;
  try {
    return JSON.parse(kv.value.toString()) as T;
  } catch {
    return undefined;
  }
}

export class MastersView {
  readonly #kvs = new Map<string, IKeyValue>();
  readonly #watchers: Watcher[] = [];
  #closed = false;
  #reloading = false;
  /** Called after every change the watch applies. */
  onChange?: () => void;

  private constructor(
    private readonly client: Etcd3,
    private readonly prefix: string,
    private readonly logger: Logger,
  ) {}

  /** Loads `<prefix>/masters/` and `<prefix>/election/`, then follows them. */
  static async open(client: Etcd3, prefix: string, logger: Logger): Promise<MastersView> {
    const view = new MastersView(client, prefix.replace(/\/+$/, ""), logger);
    await view.#load();
    return view;
  }

  get #mastersPrefix() {
    return `${this.prefix}/masters/`;
  }
  get #candidatesPrefix() {
    return `${this.prefix}/election/candidates/`;
  }
  get #termKey() {
    return `${this.prefix}/election/term`;
  }

  /** The leader now, as far as this view has seen: lowest candidate; undefined when none stands. */
  leader(): LeaderInfo | undefined {
    const first = [...this.#kvs.entries()]
      .filter(([k]) => k.startsWith(this.#candidatesPrefix))
      .map(([, kv]) => kv)
      .sort(cmpRev)[0];
    const value = parse<CandidateValue>(first);
    if (!first || !value) return undefined;
    const term = parse<TermRecord>(this.#kvs.get(this.#termKey));
    // The term record names the candidate that claimed it; a new leader that has not claimed
    // its term yet shows the next one.
    const t = term ? (term.key === first.key.toString() ? term.term : term.term + 1) : 1;
    return { ...value, term: t, lease: first.lease };
  }

  /** The running masters, sorted by id. */
  masters(): MasterRecord[] {
    return [...this.#kvs.entries()]
      .filter(([k]) => k.startsWith(this.#mastersPrefix))
      .map(([, kv]) => parse<MasterRecord>(kv))
      .filter((r): r is MasterRecord => r !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** GetMasters: the roles come from the election (the records' own roles may lag it). */
  snapshot(): GetMastersResponse {
    const leader = this.leader();
    const masters: MasterState[] = this.masters().map((m) => {
      const leads = leader?.id === m.id;
      return {
        id: m.id,
        address: m.address,
        httpAddress: m.httpAddress,
        role: leads ? "leader" : "standby",
        term: leads ? leader!.term : 0,
        since: m.since,
      };
    });
    return { masters, leader: leader?.address ?? "", term: leader?.term ?? 0, store: "etcd" };
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#watchers.splice(0).map((w) => w.cancel().catch(() => undefined)));
  }

  async #load(): Promise<void> {
    const [masters, election] = await Promise.all([
      this.client.getAll().prefix(this.#mastersPrefix).exec(),
      this.client.getAll().prefix(`${this.prefix}/election/`).exec(),
    ]);
    // Two reads at two revisions: watch from the older one, replaying what changed since (a
    // put or delete seen twice is harmless in a map).
    const rev = BigInt(Math.min(Number(masters.header.revision), Number(election.header.revision)));
    this.#kvs.clear();
    for (const kv of [...masters.kvs, ...election.kvs]) this.#kvs.set(kv.key.toString(), kv);
    this.onChange?.();
    await this.#follow((rev + 1n).toString());
  }

  async #follow(fromRevision: string): Promise<void> {
    // Two watches, not one over the whole prefix, which would carry the registry's traffic too.
    for (const part of [this.#mastersPrefix, `${this.prefix}/election/`]) {
      const watcher = await this.client.watch().prefix(part).startRevision(fromRevision).create();
      this.#watchers.push(watcher);
      watcher.on("put", (kv) => {
        this.#kvs.set(kv.key.toString(), kv);
        this.onChange?.();
      });
      watcher.on("delete", (kv) => {
        this.#kvs.delete(kv.key.toString());
        this.onChange?.();
      });
      watcher.on("error", (err) => {
        // A compacted revision or a fatal watch error: load again.
        this.logger.warn("masters view: watch failed; reloading", { err });
        this.#reload();
      });
    }
  }

  #reload(): void {
    // Both watches may fail together: one reload at a time.
    if (this.#closed || this.#reloading) return;
    this.#reloading = true;
    const old = this.#watchers.splice(0);
    for (const w of old) void w.cancel().catch(() => undefined);
    this.#load().then(
      () => {
        this.#reloading = false;
      },
      (err) => {
        this.logger.warn("masters view: reload failed; retrying", { err });
        this.#reloading = false;
        setTimeout(() => this.#reload(), 1_000).unref();
      },
    );
  }
}
