// The master's durable registry in SQLite (the one-master default): agents, frameworks, tasks
// (latest state), cluster events (bounded) and meta. Every multi-row change runs in one
// transaction; a master killed with SIGKILL comes back from this file with its registry.
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "../../common/sqlite.js";
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

/** Each entry migrates the schema from user_version i to i+1. */
export const MASTER_MIGRATIONS: readonly string[] = [
  `CREATE TABLE agents (
     id TEXT PRIMARY KEY, info TEXT NOT NULL, status TEXT NOT NULL, draining INTEGER NOT NULL,
     registered_at REAL NOT NULL, last_seen REAL NOT NULL);
   CREATE TABLE frameworks (
     id TEXT PRIMARY KEY, info TEXT NOT NULL, status TEXT NOT NULL, registered_at REAL NOT NULL,
     disconnected_at REAL NOT NULL, suppressed INTEGER NOT NULL);
   CREATE TABLE tasks (
     id TEXT PRIMARY KEY, framework_id TEXT NOT NULL, agent_id TEXT NOT NULL, info TEXT NOT NULL,
     status TEXT NOT NULL, terminal INTEGER NOT NULL, acknowledged INTEGER NOT NULL,
     kill_requested INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
   CREATE INDEX tasks_terminal ON tasks(terminal, updated_at);
   CREATE TABLE events (idx INTEGER PRIMARY KEY, event TEXT NOT NULL);
   CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
  // Release store (master/releases/): the releases and the agents' copies of them.
  `CREATE TABLE releases (
     name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL,
     info_hash TEXT NOT NULL UNIQUE, piece_length INTEGER NOT NULL, kind TEXT NOT NULL,
     file_name TEXT NOT NULL, image TEXT NOT NULL, created_at REAL NOT NULL,
     PRIMARY KEY (name, version));
   CREATE TABLE release_fetches (
     release TEXT NOT NULL, agent_id TEXT NOT NULL, state TEXT NOT NULL, staged INTEGER NOT NULL,
     downloaded INTEGER NOT NULL, size INTEGER NOT NULL, error TEXT NOT NULL, updated_at REAL NOT NULL,
     PRIMARY KEY (release, agent_id));`,
  // Release pins (master/releases/pins.ts): the releases each framework's deployed revisions use.
  `CREATE TABLE release_pins (
     framework_id TEXT NOT NULL, release TEXT NOT NULL, pinned_at REAL NOT NULL,
     PRIMARY KEY (framework_id, release));
   CREATE INDEX release_pins_release ON release_pins(release);`,
  // Agents prove their id with a secret issued at their first registration; only its hash is kept.
  `ALTER TABLE agents ADD COLUMN secret_hash TEXT NOT NULL DEFAULT '';`,
  // Framework identity: the registering principal and the hash of the failover secret. Rows
  // from before have neither; such a framework gets both at its next subscription.
  `ALTER TABLE frameworks ADD COLUMN principal TEXT NOT NULL DEFAULT '';
   ALTER TABLE frameworks ADD COLUMN secret_hash TEXT NOT NULL DEFAULT '';`,
  // Task ids are unique per framework, not cluster-wide: the key becomes (framework_id, id).
  // SQLite cannot change a primary key in place, so the table is rebuilt with its rows.
  `CREATE TABLE tasks_v6 (
     framework_id TEXT NOT NULL, id TEXT NOT NULL, agent_id TEXT NOT NULL, info TEXT NOT NULL,
     status TEXT NOT NULL, terminal INTEGER NOT NULL, acknowledged INTEGER NOT NULL,
     kill_requested INTEGER NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
     PRIMARY KEY (framework_id, id));
   INSERT INTO tasks_v6 (framework_id, id, agent_id, info, status, terminal, acknowledged, kill_requested,
     created_at, updated_at)
     SELECT framework_id, id, agent_id, info, status, terminal, acknowledged, kill_requested, created_at,
       updated_at FROM tasks;
   DROP TABLE tasks;
   ALTER TABLE tasks_v6 RENAME TO tasks;
   CREATE INDEX tasks_terminal ON tasks(terminal, updated_at);`,
];

export class SqliteRegistryStore implements RegistryStore {
  readonly kind = "sqlite";
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(dataDir: string) {
    // The registry and the cluster's identity are the master's alone: no one else on the host
    // (a task included) may read them.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    // NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL);
    // only an OS crash may lose the last transactions.
    this.db = openDatabase(join(dataDir, "master.db"), {
      migrations: MASTER_MIGRATIONS,
      name: "master registry",
      synchronous: "NORMAL",
    });
    this.stmts = {
      putAgent: this.db.prepare(
        `INSERT INTO agents (id, info, status, draining, registered_at, last_seen, secret_hash)
         VALUES (@id, @info, @status, @draining, @registeredAt, @lastSeen, @secretHash)
         ON CONFLICT(id) DO UPDATE SET info=@info, status=@status, draining=@draining, last_seen=@lastSeen,
           secret_hash=@secretHash`,
      ),
      putFramework: this.db.prepare(
        `INSERT INTO frameworks (id, info, status, registered_at, disconnected_at, suppressed, principal,
           secret_hash)
         VALUES (@id, @info, @status, @registeredAt, @disconnectedAt, @suppressed, @principal, @secretHash)
         ON CONFLICT(id) DO UPDATE SET info=@info, status=@status, disconnected_at=@disconnectedAt,
           suppressed=@suppressed, principal=@principal, secret_hash=@secretHash`,
      ),
      deleteFramework: this.db.prepare(`DELETE FROM frameworks WHERE id = ?`),
      putTask: this.db.prepare(
        `INSERT INTO tasks (id, framework_id, agent_id, info, status, terminal, acknowledged, kill_requested,
           created_at, updated_at)
         VALUES (@id, @frameworkId, @agentId, @info, @status, @terminal, @acknowledged, @killRequested,
           @createdAt, @updatedAt)
         ON CONFLICT(framework_id, id) DO UPDATE SET status=@status, terminal=@terminal,
           acknowledged=@acknowledged, kill_requested=@killRequested, updated_at=@updatedAt`,
      ),
      updateTask: this.db.prepare(
        `UPDATE tasks SET status=@status, terminal=@terminal, acknowledged=@acknowledged,
           kill_requested=@killRequested, updated_at=@updatedAt WHERE framework_id=@frameworkId AND id=@id`,
      ),
      markAcknowledged: this.db.prepare(
        `UPDATE tasks SET acknowledged = 1, updated_at = ? WHERE framework_id = ? AND id = ?`,
      ),
      deleteTask: this.db.prepare(`DELETE FROM tasks WHERE framework_id = ? AND id = ?`),
      putEvent: this.db.prepare(`INSERT INTO events (idx, event) VALUES (?, ?)`),
      trimEvents: this.db.prepare(`DELETE FROM events WHERE idx <= ?`),
      getMeta: this.db.prepare(`SELECT value FROM meta WHERE key = ?`),
      putMeta: this.db.prepare(
        `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
    };
  }

  /**
   * Runs `fn` in one transaction: all of it or nothing. Inside an open group (or another
   * transaction) it is a savepoint, so a failure still undoes exactly its own writes.
   */
  transaction<T>(fn: () => T): T {
    const outer = this.txDepth === 0;
    this.txDepth++;
    let ok = false;
    try {
      const result = this.db.transaction(fn)();
      ok = true;
      return result;
    } finally {
      this.txDepth--;
      if (outer) {
        // What waited inside the transaction waits for its commit; a rolled back one tells no one.
        const waiting = this.txWaiting.splice(0);
        if (ok) for (const w of waiting) this.afterCommit(w);
      }
    }
  }

  private txDepth = 0;
  private readonly txWaiting: (() => void)[] = [];

  private groupOpen = false;
  /** Told when a group commit fails (the master logs it; the agents' retries recover). */
  onGroupFailure?: (err: unknown) => void;
  private readonly afterCommitQueue: (() => void)[] = [];

  /**
   * Opens a group transaction, if none is open, that commits at the end of this turn of the
   * event loop: the status updates of many agents that arrive together share one commit
   * instead of paying for one each. Acknowledge what the group holds with afterCommit.
   */
  beginGroup(): void {
    if (this.groupOpen || this.db.inTransaction) return;
    this.db.exec("BEGIN");
    this.groupOpen = true;
    setImmediate(() => {
      try {
        this.commitGroup();
      } catch (err) {
        this.onGroupFailure?.(err);
      }
    });
  }

  /**
   * Commits the open group, then runs what waited for it. If the commit fails, nothing of the
   * group is kept and nothing that waited runs: no ack goes out, so agents send again.
   */
  commitGroup(): void {
    if (!this.groupOpen) return;
    this.groupOpen = false;
    const waiting = this.afterCommitQueue.splice(0);
    try {
      this.db.exec("COMMIT");
    } catch (err) {
      if (this.db.inTransaction) this.db.exec("ROLLBACK");
      throw err;
    }
    for (const fn of waiting) fn();
  }

  /**
   * Runs `fn` once what was written so far is committed: at the end of the transaction it is
   * called in, at the end of the open group, else at once.
   */
  afterCommit(fn: () => void): void {
    if (this.txDepth > 0) this.txWaiting.push(fn);
    else if (this.groupOpen) this.afterCommitQueue.push(fn);
    else fn();
  }

  putAgent(a: StoredAgent): void {
    this.stmts.putAgent.run({
      id: a.info.id,
      info: JSON.stringify(AgentInfo.toJSON(a.info)),
      status: a.status,
      draining: a.draining ? 1 : 0,
      registeredAt: a.registeredAt,
      lastSeen: a.lastSeen,
      secretHash: a.secretHash,
    });
  }

  loadAgents(): StoredAgent[] {
    return (this.db.prepare(`SELECT * FROM agents`).all() as any[]).map((r) => ({
      info: AgentInfo.fromJSON(JSON.parse(r.info)),
      status: r.status,
      draining: r.draining === 1,
      registeredAt: r.registered_at,
      lastSeen: r.last_seen,
      secretHash: r.secret_hash,
    }));
  }

  putFramework(f: StoredFramework): void {
    this.stmts.putFramework.run({
      id: f.info.id,
      info: JSON.stringify(FrameworkInfo.toJSON(f.info)),
      status: f.status,
      registeredAt: f.registeredAt,
      disconnectedAt: f.disconnectedAt,
      suppressed: f.suppressed ? 1 : 0,
      principal: f.principal,
      secretHash: f.secretHash,
    });
  }

  deleteFramework(id: string): void {
    this.stmts.deleteFramework.run(id);
  }

  loadFrameworks(): StoredFramework[] {
    return (this.db.prepare(`SELECT * FROM frameworks`).all() as any[]).map((r) => ({
      info: FrameworkInfo.fromJSON(JSON.parse(r.info)),
      status: r.status,
      registeredAt: r.registered_at,
      disconnectedAt: r.disconnected_at,
      suppressed: r.suppressed === 1,
      principal: r.principal,
      secretHash: r.secret_hash,
    }));
  }

  putTask(t: StoredTask, terminal: boolean, now: number): void {
    this.stmts.putTask.run({
      id: t.info.taskId,
      frameworkId: t.frameworkId,
      agentId: t.info.agentId,
      info: JSON.stringify(TaskInfo.toJSON(t.info)),
      status: JSON.stringify(TaskStatus.toJSON(t.status)),
      terminal: terminal ? 1 : 0,
      acknowledged: t.acknowledged ? 1 : 0,
      killRequested: t.killRequested ? 1 : 0,
      createdAt: t.createdAt,
      updatedAt: now,
    });
  }

  /** Records a stored task's new status and flags (its TaskInfo never changes). */
  updateTask(t: StoredTask, terminal: boolean, now: number): void {
    this.stmts.updateTask.run({
      id: t.info.taskId,
      frameworkId: t.frameworkId,
      status: JSON.stringify(TaskStatus.toJSON(t.status)),
      terminal: terminal ? 1 : 0,
      acknowledged: t.acknowledged ? 1 : 0,
      killRequested: t.killRequested ? 1 : 0,
      updatedAt: now,
    });
  }

  markAcknowledged(frameworkId: string, taskId: string, now: number): void {
    this.stmts.markAcknowledged.run(now, frameworkId, taskId);
  }

  deleteTask(frameworkId: string, taskId: string): void {
    this.stmts.deleteTask.run(frameworkId, taskId);
  }

  loadTasks(): StoredTask[] {
    return (this.db.prepare(`SELECT * FROM tasks ORDER BY created_at`).all() as any[]).map((r) => ({
      info: TaskInfo.fromJSON(JSON.parse(r.info)),
      frameworkId: r.framework_id,
      status: TaskStatus.fromJSON(JSON.parse(r.status)),
      acknowledged: r.acknowledged === 1,
      killRequested: r.kill_requested === 1,
      createdAt: r.created_at,
    }));
  }

  putEvent(e: ClusterEvent): void {
    this.stmts.putEvent.run(e.index, JSON.stringify(ClusterEvent.toJSON(e)));
  }

  trimEventsThrough(index: number): void {
    this.stmts.trimEvents.run(index);
  }

  loadEvents(): ClusterEvent[] {
    return (this.db.prepare(`SELECT event FROM events ORDER BY idx`).all() as any[]).map((r) =>
      ClusterEvent.fromJSON(JSON.parse(r.event)),
    );
  }

  getMeta(key: string): string | undefined {
    const row = this.stmts.getMeta.get(key) as { value: string } | undefined;
    return row?.value;
  }

  putMeta(key: string, value: string): void {
    this.stmts.putMeta.run(key, value);
  }

  /** The id of the cluster this registry belongs to (master/cluster-identity.ts). */
  clusterId(): string | undefined {
    return this.getMeta("cluster_id") || undefined;
  }

  setClusterId(id: string): void {
    this.putMeta("cluster_id", id);
  }

  /** Whether the registry holds nothing: no cluster id, agent, framework, task, release or event. */
  isEmpty(): boolean {
    if (this.clusterId()) return false;
    return ["agents", "frameworks", "tasks", "releases", "events"].every(
      (table) => this.db.prepare(`SELECT 1 FROM ${table} LIMIT 1`).get() === undefined,
    );
  }

  putRelease(r: Release): void {
    this.db
      .prepare(
        `INSERT INTO releases (name, version, sha256, size, info_hash, piece_length, kind, file_name, image, created_at)
         VALUES (@name, @version, @sha256, @size, @infoHash, @pieceLength, @kind, @fileName, @image, @createdAt)`,
      )
      .run(r);
  }

  /** Deletes a release and every agent's fetch record of it, in one transaction. */
  deleteRelease(name: string, version: string): void {
    this.transaction(() => {
      this.db.prepare(`DELETE FROM releases WHERE name = ? AND version = ?`).run(name, version);
      this.db.prepare(`DELETE FROM release_fetches WHERE release = ?`).run(`${name}@${version}`);
    });
  }

  loadReleases(): Release[] {
    return (this.db.prepare(`SELECT * FROM releases ORDER BY name, created_at`).all() as any[]).map((r) => ({
      name: r.name,
      version: r.version,
      sha256: r.sha256,
      size: r.size,
      infoHash: r.info_hash,
      pieceLength: r.piece_length,
      kind: r.kind,
      fileName: r.file_name,
      image: r.image,
      createdAt: r.created_at,
      corrupt: false,
      corruptMessage: "",
      verifiedAt: 0,
    }));
  }

  putFetch(f: StoredFetch): void {
    this.db
      .prepare(
        `INSERT INTO release_fetches (release, agent_id, state, staged, downloaded, size, error, updated_at)
         VALUES (@release, @agentId, @state, @staged, @downloaded, @size, @error, @updatedAt)
         ON CONFLICT(release, agent_id) DO UPDATE SET state=@state, staged=@staged, downloaded=@downloaded,
           size=@size, error=@error, updated_at=@updatedAt`,
      )
      .run({ ...f, staged: f.staged ? 1 : 0 });
  }

  deleteFetch(release: string, agentId: string): void {
    this.db.prepare(`DELETE FROM release_fetches WHERE release = ? AND agent_id = ?`).run(release, agentId);
  }

  loadFetches(): StoredFetch[] {
    return (this.db.prepare(`SELECT * FROM release_fetches`).all() as any[]).map((r) => ({
      release: r.release,
      agentId: r.agent_id,
      state: r.state,
      staged: r.staged === 1,
      downloaded: r.downloaded,
      size: r.size,
      error: r.error,
      updatedAt: r.updated_at,
    }));
  }

  /** Replaces the releases `frameworkId` pins, in one transaction (an empty list drops them). */
  setPins(frameworkId: string, releases: readonly string[], pinnedAt: number): void {
    this.transaction(() => {
      this.db.prepare(`DELETE FROM release_pins WHERE framework_id = ?`).run(frameworkId);
      const put = this.db.prepare(
        `INSERT INTO release_pins (framework_id, release, pinned_at) VALUES (?, ?, ?)`,
      );
      for (const r of releases) put.run(frameworkId, r, pinnedAt);
    });
  }

  loadPins(): StoredPin[] {
    return (this.db.prepare(`SELECT * FROM release_pins ORDER BY framework_id, release`).all() as any[]).map(
      (r) => ({ frameworkId: r.framework_id, release: r.release, pinnedAt: r.pinned_at }),
    );
  }

  close(): void {
    this.commitGroup();
    this.db.close();
  }
}
