// The master's registry in etcd, for several masters: the same records as the SQLite store,
// as JSON values under <prefix>/registry/, mirrored in memory by MirroredKv. Every master
// opens it as a read-only follower (a warm copy, kept current by watch); the leader promotes
// it with its leadership key, and from then on every write is an etcd txn fenced on that key.
//
// Layout (each id or name URI-encoded, so a "/" in it cannot make a key ambiguous):
//   schema                     the layout's version (ETCD_REGISTRY_MIGRATIONS)
//   agents/<id>  frameworks/<id>  tasks/<framework id>/<task id>
//   events/<index, 20 digits>  meta/<key>  releases/<NAME@VERSION>
//   fetches/<NAME@VERSION>/<agent id>  pins/<framework id>/<NAME@VERSION>
import type { Etcd3 } from "etcd3";
import { type Fence, MirroredKv } from "../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../common/logger.js";
import { AgentInfo, FrameworkInfo, TaskInfo, TaskStatus } from "../../proto/gen/yard/v1/common.js";
import { ClusterEvent } from "../../proto/gen/yard/v1/operator.js";
import type { Release } from "../../proto/gen/yard/v1/release.js";
import type {
  RegistryStore,
  StoredAgent,
  StoredFetch,
  StoredFramework,
  StoredPin,
  StoredTask,
} from "./registry-store.js";

/** A step of the layout from version i to i+1, run by the leader in one unit with the version bump. */
export type EtcdRegistryMigration = (kv: MirroredKv) => void;

/** Entry i migrates the layout from version i to i+1; never edit a released entry. */
export const ETCD_REGISTRY_MIGRATIONS: readonly EtcdRegistryMigration[] = [
  // 0 → 1: a prefix without a schema key (a new cluster) takes today's layout as it is.
  () => {},
];

export const SCHEMA_KEY = "schema";

/** The registry in etcd was written by a newer build: reading it could misread it. */
export class RegistrySchemaTooNewError extends Error {
  override readonly name = "RegistrySchemaTooNewError";
  constructor(
    readonly found: number,
    readonly known: number,
    readonly prefix: string,
  ) {
    super(`the registry at ${prefix} has schema v${found}, newer than this build knows (v${known})`);
  }
}

export interface EtcdRegistryStoreInit {
  /** A root etcd client. */
  client: Etcd3;
  /** The cluster's key prefix (`--etcd-prefix`, /yard by default); the registry is under <prefix>/registry/. */
  prefix?: string;
  logger: Logger;
  maxTxnOps?: number;
  /** etcd txns in flight at once (MirroredKv, 8 by default; txns on a common key never overlap). */
  maxTxnsInFlight?: number;
  /** A call to etcd unanswered by then is retried (MirroredKv, 5 s by default). */
  callTimeoutMs?: number;
  /** For tests of the migration machinery; ETCD_REGISTRY_MIGRATIONS otherwise. */
  migrations?: readonly EtcdRegistryMigration[];
}

const seg = encodeURIComponent;
const unseg = decodeURIComponent;
const EVENT_DIGITS = 20;
const eventKey = (index: number) => `events/${String(index).padStart(EVENT_DIGITS, "0")}`;
const taskKey = (frameworkId: string, taskId: string) => `tasks/${seg(frameworkId)}/${seg(taskId)}`;

interface TaskValue {
  info: unknown;
  frameworkId: string;
  agentId: string;
  status: unknown;
  terminal: boolean;
  acknowledged: boolean;
  killRequested: boolean;
  createdAt: number;
  updatedAt: number;
}

export class EtcdRegistryStore implements RegistryStore {
  readonly kind = "etcd";
  onGroupFailure?: (err: unknown) => void;

  private constructor(
    /** The mirror itself: its revision, onChange (a standby's view) and flush. */
    readonly mirror: MirroredKv,
    private readonly migrations: readonly EtcdRegistryMigration[],
    private readonly where: string,
  ) {}

  /** Loads the registry and follows it: a read-only warm copy until promote(). */
  static async open(init: EtcdRegistryStoreInit): Promise<EtcdRegistryStore> {
    const where = `${init.prefix ?? "/yard"}/registry/`;
    const mirror = await MirroredKv.open({
      client: init.client,
      prefix: where,
      logger: init.logger,
      maxTxnOps: init.maxTxnOps,
      maxTxnsInFlight: init.maxTxnsInFlight,
      callTimeoutMs: init.callTimeoutMs,
    });
    const store = new EtcdRegistryStore(mirror, init.migrations ?? ETCD_REGISTRY_MIGRATIONS, where);
    try {
      store.schemaVersion();
    } catch (err) {
      await mirror.close();
      throw err;
    }
    return store;
  }

  /**
   * Makes this store the registry's writer under `fence` (the leadership key): reloads what
   * the previous leader wrote, then brings the layout up to date.
   */
  async promote(fence: Fence): Promise<void> {
    await this.mirror.promote(fence);
    for (let v = this.schemaVersion(); v < this.migrations.length; v++) {
      this.mirror.unit(() => {
        this.migrations[v]!(this.mirror);
        this.mirror.put(SCHEMA_KEY, String(v + 1));
      });
    }
    await this.mirror.flush();
  }

  /** Once: etcd refused a write because this master no longer leads; nothing is written after it. */
  set onFenceLost(fn: ((err: Error) => void) | undefined) {
    this.mirror.onFenceLost = fn;
  }

  get onFenceLost(): ((err: Error) => void) | undefined {
    return this.mirror.onFenceLost;
  }

  /** Resolves once everything written so far is stored in etcd. */
  flush(): Promise<void> {
    return this.mirror.flush();
  }

  private schemaVersion(): number {
    const v = Number(this.mirror.get(SCHEMA_KEY) ?? 0);
    if (v > this.migrations.length)
      throw new RegistrySchemaTooNewError(v, this.migrations.length, this.where);
    return v;
  }

  transaction<T>(fn: () => T): T {
    return this.mirror.unit(fn);
  }

  // Every turn's writes are one batch already: there is no group to open or commit.
  beginGroup(): void {}
  commitGroup(): void {}

  afterCommit(fn: () => void): void {
    this.mirror.afterCommit(fn);
  }

  private json<T>(key: string): T | undefined {
    const v = this.mirror.get(key);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  private values(subPrefix: string): any[] {
    return this.mirror.range(subPrefix).map(([, v]) => JSON.parse(v));
  }

  putAgent(a: StoredAgent): void {
    const key = `agents/${seg(a.info.id)}`;
    const old = this.json<{ registeredAt: number; lastSeen: number }>(key);
    const record = {
      info: AgentInfo.toJSON(a.info),
      secretHash: a.secretHash,
      status: a.status,
      draining: a.draining,
      // As in SQLite: the first registration's time stays.
      registeredAt: old ? old.registeredAt : a.registeredAt,
      lastSeen: a.lastSeen,
    };
    // lastSeen alone is no change worth a txn (registry-store.ts): after a failover, a
    // thousand agents that come back unchanged would queue a thousand writes ahead of
    // everything the new leader answers.
    if (old && JSON.stringify({ ...record, lastSeen: old.lastSeen }) === this.mirror.get(key)) return;
    this.mirror.put(key, JSON.stringify(record));
  }

  loadAgents(): StoredAgent[] {
    return this.values("agents/").map((r) => ({ ...r, info: AgentInfo.fromJSON(r.info) }));
  }

  putFramework(f: StoredFramework): void {
    const key = `frameworks/${seg(f.info.id)}`;
    const old = this.json<{ registeredAt: number }>(key);
    this.mirror.put(
      key,
      JSON.stringify({
        info: FrameworkInfo.toJSON(f.info),
        principal: f.principal,
        secretHash: f.secretHash,
        status: f.status,
        registeredAt: old ? old.registeredAt : f.registeredAt,
        disconnectedAt: f.disconnectedAt,
        suppressed: f.suppressed,
      }),
    );
  }

  deleteFramework(id: string): void {
    this.mirror.delete(`frameworks/${seg(id)}`);
  }

  loadFrameworks(): StoredFramework[] {
    return this.values("frameworks/").map((r) => ({ ...r, info: FrameworkInfo.fromJSON(r.info) }));
  }

  putTask(t: StoredTask, terminal: boolean, now: number): void {
    const key = taskKey(t.frameworkId, t.info.taskId);
    const old = this.json<TaskValue>(key);
    // As in SQLite: a task's info, agent and creation time are those of its first put.
    this.writeTask(key, t, terminal, now, old);
  }

  updateTask(t: StoredTask, terminal: boolean, now: number): void {
    const key = taskKey(t.frameworkId, t.info.taskId);
    const old = this.json<TaskValue>(key);
    if (old) this.writeTask(key, t, terminal, now, old);
  }

  private writeTask(key: string, t: StoredTask, terminal: boolean, now: number, old?: TaskValue): void {
    const v: TaskValue = {
      info: old ? old.info : TaskInfo.toJSON(t.info),
      frameworkId: t.frameworkId,
      agentId: old ? old.agentId : t.info.agentId,
      status: TaskStatus.toJSON(t.status),
      terminal,
      acknowledged: t.acknowledged,
      killRequested: t.killRequested,
      createdAt: old ? old.createdAt : t.createdAt,
      updatedAt: now,
    };
    this.mirror.put(key, JSON.stringify(v));
  }

  markAcknowledged(frameworkId: string, taskId: string, now: number): void {
    const key = taskKey(frameworkId, taskId);
    const old = this.json<TaskValue>(key);
    if (old) this.mirror.put(key, JSON.stringify({ ...old, acknowledged: true, updatedAt: now }));
  }

  deleteTask(frameworkId: string, taskId: string): void {
    this.mirror.delete(taskKey(frameworkId, taskId));
  }

  loadTasks(): StoredTask[] {
    const rows = this.values("tasks/") as TaskValue[];
    // Oldest first, as SQLite's ORDER BY created_at (ties in key order: the sort is stable).
    rows.sort((a, b) => a.createdAt - b.createdAt);
    return rows.map((r) => ({
      info: TaskInfo.fromJSON(r.info),
      frameworkId: r.frameworkId,
      status: TaskStatus.fromJSON(r.status),
      acknowledged: r.acknowledged,
      killRequested: r.killRequested,
      createdAt: r.createdAt,
    }));
  }

  putEvent(e: ClusterEvent): void {
    this.mirror.put(eventKey(e.index), JSON.stringify(ClusterEvent.toJSON(e)));
  }

  trimEventsThrough(index: number): void {
    // One range delete, however many events it drops.
    this.mirror.deleteRange("events/", eventKey(index + 1));
  }

  loadEvents(): ClusterEvent[] {
    return this.values("events/").map((r) => ClusterEvent.fromJSON(r));
  }

  getMeta(key: string): string | undefined {
    return this.mirror.get(`meta/${seg(key)}`);
  }

  putMeta(key: string, value: string): void {
    this.mirror.put(`meta/${seg(key)}`, value);
  }

  clusterId(): string | undefined {
    return this.getMeta("cluster_id") || undefined;
  }

  setClusterId(id: string): void {
    this.putMeta("cluster_id", id);
  }

  isEmpty(): boolean {
    if (this.clusterId()) return false;
    return ["agents/", "frameworks/", "tasks/", "releases/", "events/"].every((p) => !this.mirror.has(p));
  }

  putRelease(r: Release): void {
    this.mirror.put(
      `releases/${seg(`${r.name}@${r.version}`)}`,
      JSON.stringify({
        name: r.name,
        version: r.version,
        sha256: r.sha256,
        size: r.size,
        infoHash: r.infoHash,
        pieceLength: r.pieceLength,
        kind: r.kind,
        fileName: r.fileName,
        image: r.image,
        createdAt: r.createdAt,
      }),
    );
  }

  deleteRelease(name: string, version: string): void {
    const ref = seg(`${name}@${version}`);
    this.mirror.unit(() => {
      this.mirror.delete(`releases/${ref}`);
      this.mirror.deletePrefix(`fetches/${ref}/`);
    });
  }

  loadReleases(): Release[] {
    const rows = this.values("releases/");
    rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.createdAt - b.createdAt));
    return rows.map((r) => ({ ...r, corrupt: false, corruptMessage: "", verifiedAt: 0 }));
  }

  putFetch(f: StoredFetch): void {
    this.mirror.put(
      `fetches/${seg(f.release)}/${seg(f.agentId)}`,
      JSON.stringify({
        release: f.release,
        agentId: f.agentId,
        state: f.state,
        staged: f.staged,
        downloaded: f.downloaded,
        size: f.size,
        error: f.error,
        updatedAt: f.updatedAt,
      }),
    );
  }

  deleteFetch(release: string, agentId: string): void {
    this.mirror.delete(`fetches/${seg(release)}/${seg(agentId)}`);
  }

  loadFetches(): StoredFetch[] {
    return this.values("fetches/");
  }

  setPins(frameworkId: string, releases: readonly string[], pinnedAt: number): void {
    const under = `pins/${seg(frameworkId)}/`;
    this.mirror.unit(() => {
      this.mirror.deletePrefix(under);
      for (const r of releases) this.mirror.put(`${under}${seg(r)}`, JSON.stringify({ pinnedAt }));
    });
  }

  loadPins(): StoredPin[] {
    const pins = this.mirror.range("pins/").map(([k, v]) => {
      const [, fw, release] = k.split("/");
      return { frameworkId: unseg(fw!), release: unseg(release!), pinnedAt: JSON.parse(v).pinnedAt };
    });
    // By framework id, then release, as SQLite orders them (the encoded keys may sort otherwise).
    return pins.sort((a, b) =>
      a.frameworkId !== b.frameworkId
        ? a.frameworkId < b.frameworkId
          ? -1
          : 1
        : a.release < b.release
          ? -1
          : a.release > b.release
            ? 1
            : 0,
    );
  }

  close(): Promise<void> {
    return this.mirror.close();
  }
}
