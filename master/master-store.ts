// The master's durable registry in SQLite: agents, frameworks, tasks (latest state), cluster
// events (bounded) and meta. Every multi-row change runs in one transaction; a master killed
// with SIGKILL comes back from this file with its registry.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  AgentInfo,
  FrameworkInfo,
  TaskInfo,
  TaskStatus,
  type TaskUsage,
} from "../proto/gen/yard/v1/common.js";
import { ClusterEvent } from "../proto/gen/yard/v1/operator.js";

export type AgentStatusName = "ACTIVE" | "DISCONNECTED" | "LOST";
export type FrameworkStatusName = "CONNECTED" | "DISCONNECTED" | "INACTIVE";

export interface StoredAgent {
  info: AgentInfo;
  status: AgentStatusName;
  draining: boolean;
  registeredAt: number;
  lastSeen: number;
}

export interface StoredFramework {
  info: FrameworkInfo;
  status: FrameworkStatusName;
  registeredAt: number;
  disconnectedAt: number;
  suppressed: boolean;
}

export interface StoredTask {
  info: TaskInfo;
  frameworkId: string;
  status: TaskStatus;
  /** Whether the framework acknowledged `status` (only meaningful when it has a uuid). */
  acknowledged: boolean;
  killRequested: boolean;
  createdAt: number;
  usage?: TaskUsage;
}

/** Each entry migrates the schema from user_version i to i+1. */
const MIGRATIONS: string[] = [
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
];

export class MasterStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new Database(join(dataDir, "master.db"));
    this.db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a committed transaction survives a process crash (SIGKILL);
    // only an OS crash may lose the last transactions.
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
    this.stmts = {
      putAgent: this.db.prepare(
        `INSERT INTO agents (id, info, status, draining, registered_at, last_seen)
         VALUES (@id, @info, @status, @draining, @registeredAt, @lastSeen)
         ON CONFLICT(id) DO UPDATE SET info=@info, status=@status, draining=@draining, last_seen=@lastSeen`,
      ),
      putFramework: this.db.prepare(
        `INSERT INTO frameworks (id, info, status, registered_at, disconnected_at, suppressed)
         VALUES (@id, @info, @status, @registeredAt, @disconnectedAt, @suppressed)
         ON CONFLICT(id) DO UPDATE SET info=@info, status=@status, disconnected_at=@disconnectedAt,
           suppressed=@suppressed`,
      ),
      deleteFramework: this.db.prepare(`DELETE FROM frameworks WHERE id = ?`),
      putTask: this.db.prepare(
        `INSERT INTO tasks (id, framework_id, agent_id, info, status, terminal, acknowledged, kill_requested,
           created_at, updated_at)
         VALUES (@id, @frameworkId, @agentId, @info, @status, @terminal, @acknowledged, @killRequested,
           @createdAt, @updatedAt)
         ON CONFLICT(id) DO UPDATE SET status=@status, terminal=@terminal, acknowledged=@acknowledged,
           kill_requested=@killRequested, updated_at=@updatedAt`,
      ),
      deleteTask: this.db.prepare(`DELETE FROM tasks WHERE id = ?`),
      putEvent: this.db.prepare(`INSERT INTO events (idx, event) VALUES (?, ?)`),
      trimEvents: this.db.prepare(`DELETE FROM events WHERE idx <= ?`),
      getMeta: this.db.prepare(`SELECT value FROM meta WHERE key = ?`),
      putMeta: this.db.prepare(
        `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
      ),
    };
  }

  private migrate(): void {
    const version = this.db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn)();
  }

  putAgent(a: StoredAgent): void {
    this.stmts.putAgent.run({
      id: a.info.id,
      info: JSON.stringify(AgentInfo.toJSON(a.info)),
      status: a.status,
      draining: a.draining ? 1 : 0,
      registeredAt: a.registeredAt,
      lastSeen: a.lastSeen,
    });
  }

  loadAgents(): StoredAgent[] {
    return (this.db.prepare(`SELECT * FROM agents`).all() as any[]).map((r) => ({
      info: AgentInfo.fromJSON(JSON.parse(r.info)),
      status: r.status,
      draining: r.draining === 1,
      registeredAt: r.registered_at,
      lastSeen: r.last_seen,
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

  deleteTask(id: string): void {
    this.stmts.deleteTask.run(id);
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

  close(): void {
    this.db.close();
  }
}
