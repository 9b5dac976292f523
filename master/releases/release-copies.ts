// Which masters hold which release, in etcd (HA only; docs/ha.md, "Releases in HA"):
//   <prefix>/release-copies/<NAME@VERSION>/<masterId>  →  {"sha256","infoHash","torrent","at"}
// A key says "this master holds these bytes, verified against the release's sha256, in its
// release store". It carries the release's .torrent (base64), so that a standby can fetch a
// release it learns of from the registry without asking the leader for the metainfo: the
// registry holds the release's sha256 and info hash, not its pieces.
//
// The keys are plain puts, bound to no lease and conditioned on no leadership: a master's copy
// is a fact about its own disk, which outlives its process and its leadership, and only that
// master writes its own key. The one exception is removal: the leader deletes every key of a
// release it removed; a standby whose key vanished while the registry still lists the release
// simply records it again (release-replica.ts), so a stray delete is repaired, never harmful.
//
// This class mirrors the keys in memory (one range, then a watch from the next revision), so
// that counting copies and finding a torrent are synchronous, and tells listeners of changes.
import type { Etcd3, Watcher } from "etcd3";
import type { Logger } from "../../common/logger.js";

export const COPIES_DIR = "release-copies";

/** What a copy key holds. */
export interface CopyRecord {
  sha256: string;
  infoHash: string;
  /** The release's .torrent as its holder stores it (its announce URLs are rewritten on use). */
  torrent: Buffer;
  /** Milliseconds since the epoch when the copy was recorded. */
  at: number;
}

export interface ReleaseCopiesInit {
  client: Etcd3;
  /** The cluster's etcd prefix, e.g. /yard (no trailing slash). */
  prefix: string;
  logger: Logger;
}

export class ReleaseCopies {
  /** NAME@VERSION → master id → record */
  private readonly byRelease = new Map<string, Map<string, CopyRecord>>();
  private readonly listeners = new Set<(release: string) => void>();
  private watcher?: Watcher;
  private readonly root: string;

  private constructor(private readonly init: ReleaseCopiesInit) {
    this.root = `${init.prefix}/${COPIES_DIR}/`;
  }

  /** Loads every copy key, then follows them; resolves once the watch is in place. */
  static async open(init: ReleaseCopiesInit): Promise<ReleaseCopies> {
    const copies = new ReleaseCopies(init);
    await copies.load();
    return copies;
  }

  private async load(): Promise<void> {
    const res = await this.init.client.getAll().prefix(this.root).exec();
    for (const kv of res.kvs) this.apply(kv.key.toString(), kv.value.toString());
    const watcher = await this.init.client
      .watch()
      .prefix(this.root)
      .startRevision(String(BigInt(res.header.revision) + 1n))
      .create();
    watcher.on("put", (kv) => this.apply(kv.key.toString(), kv.value.toString()));
    watcher.on("delete", (kv) => this.apply(kv.key.toString(), undefined));
    // The client reconnects the watch by itself, from the last revision it saw.
    watcher.on("error", (err) => this.init.logger.warn("watch of release copies failed", { err }));
    this.watcher = watcher;
  }

  private apply(key: string, value: string | undefined): void {
    const parsed = parseKey(this.root, key);
    if (!parsed) return;
    const { release, master } = parsed;
    let holders = this.byRelease.get(release);
    if (value === undefined) {
      if (!holders?.delete(master)) return;
      if (holders.size === 0) this.byRelease.delete(release);
    } else {
      const record = parseRecord(value);
      if (!record) {
        this.init.logger.warn("unreadable release copy key ignored", { key });
        return;
      }
      if (!holders) {
        holders = new Map();
        this.byRelease.set(release, holders);
      }
      holders.set(master, record);
    }
    for (const fn of this.listeners) fn(release);
  }

  /** Calls `fn(release)` after each change of a release's copies; returns the unsubscribe. */
  onChange(fn: (release: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The masters holding `release`, sorted. */
  holders(release: string): string[] {
    return [...(this.byRelease.get(release)?.keys() ?? [])].sort();
  }

  /** The record of `master`'s copy of `release`, if it holds one. */
  get(release: string, master: string): CopyRecord | undefined {
    return this.byRelease.get(release)?.get(master);
  }

  /** A copy of `release` whose info hash is `infoHash` (the torrent a standby fetches with). */
  anyWith(release: string, infoHash: string): CopyRecord | undefined {
    for (const r of this.byRelease.get(release)?.values() ?? []) if (r.infoHash === infoHash) return r;
    return undefined;
  }

  /** Every release `master` holds, with its record. */
  heldBy(master: string): Array<[release: string, record: CopyRecord]> {
    const out: Array<[string, CopyRecord]> = [];
    for (const [release, holders] of this.byRelease) {
      const r = holders.get(master);
      if (r) out.push([release, r]);
    }
    return out.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  }

  /** Records that `master` holds `release` (verified). Resolves once etcd stored it. */
  async put(release: string, master: string, record: Omit<CopyRecord, "at">): Promise<void> {
    const value = JSON.stringify({
      sha256: record.sha256,
      infoHash: record.infoHash,
      torrent: record.torrent.toString("base64"),
      at: Date.now(),
    });
    await this.init.client.put(this.key(release, master)).value(value).exec();
    // The watch will say the same; applying it now lets the caller count it at once.
    this.apply(this.key(release, master), value);
  }

  /** Deletes `master`'s copy key of `release`, or every copy key of it when no master is named. */
  async drop(release: string, master?: string): Promise<void> {
    if (master !== undefined) {
      await this.init.client.delete().key(this.key(release, master)).exec();
      this.apply(this.key(release, master), undefined);
      return;
    }
    await this.init.client.delete().prefix(`${this.root}${release}/`).exec();
    for (const m of this.holders(release)) this.apply(this.key(release, m), undefined);
  }

  /**
   * Resolves true once `done()` holds (checked now and after each change of `release`'s
   * copies), false when `signal` aborts first.
   */
  until(release: string, done: () => boolean, signal: AbortSignal): Promise<boolean> {
    if (done()) return Promise.resolve(true);
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (ok: boolean) => {
        unsubscribe();
        signal.removeEventListener("abort", onAbort);
        resolve(ok);
      };
      const onAbort = () => finish(false);
      const unsubscribe = this.onChange((r) => {
        if (r === release && done()) finish(true);
      });
      signal.addEventListener("abort", onAbort);
    });
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.watcher?.cancel();
    this.watcher = undefined;
  }

  private key(release: string, master: string): string {
    return `${this.root}${release}/${master}`;
  }
}

function parseKey(root: string, key: string): { release: string; master: string } | undefined {
  if (!key.startsWith(root)) return undefined;
  const rest = key.slice(root.length);
  const slash = rest.indexOf("/");
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return { release: rest.slice(0, slash), master: rest.slice(slash + 1) };
}

function parseRecord(value: string): CopyRecord | undefined {
  try {
    const v = JSON.parse(value) as { sha256?: unknown; infoHash?: unknown; torrent?: unknown; at?: unknown };
    if (typeof v.sha256 !== "string" || typeof v.infoHash !== "string" || typeof v.torrent !== "string")
      return undefined;
    return {
      sha256: v.sha256,
      infoHash: v.infoHash,
      torrent: Buffer.from(v.torrent, "base64"),
      at: typeof v.at === "number" ? v.at : 0,
    };
  } catch {
    return undefined;
  }
}
