// The agent's checkpoint: its id and cluster id, the tasks it runs (with the executor's state needed to
// re-attach after a restart) and the status updates not yet acknowledged by the master.
// SQLite in WAL mode with synchronous=FULL: a lost update or a forgotten pid means a task
// the cluster cannot account for. Each write that a launch waits for is one transaction
// (one fsync): the task with its first update, then the executor's state with RUNNING.
// Acks alone are committed without their own fsync (see `ack`). Each task also keeps its
// latest health verdict and when it started running, for the health checks of a restarted agent.
import fs from "node:fs";
import path from "node:path";
import type Database from "better-sqlite3";
import { MetaTable, openDatabase } from "../common/sqlite.js";
import { TaskHealth, TaskInfo, TaskState, TaskStatus } from "../proto/gen/yard/v1/common.js";
import { isTerminal } from "../common/task-states.js";

/** Executor-specific data needed to find a task again (pid, start time, cgroups...). */
export type ExecutorState = Record<string, unknown>;

export interface CheckpointedTask {
  /** Its name on this agent (agent-task.ts taskName; a bare task id for older tasks). */
  name: string;
  taskId: string;
  frameworkId: string;
  info: TaskInfo;
  executor: string;
  state: TaskState;
  executorState?: ExecutorState;
  killRequested: boolean;
  /** The health verdict of the task's latest update that carried one. */
  health?: TaskHealth;
  /** Unix seconds of the task's first RUNNING update. */
  runningSince?: number;
}

/** What an update may carry into the checkpoint in its own transaction. */
export interface UpdateExtras {
  /** The task, not yet checkpointed, that this update is the first of. */
  task?: CheckpointedTask;
  executorState?: ExecutorState;
}

export interface PendingUpdate {
  seq: number;
  status: TaskStatus;
}

export const CHECKPOINT_MIGRATIONS: readonly string[] = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE tasks (
     task_id TEXT PRIMARY KEY,
     framework_id TEXT NOT NULL,
     info BLOB NOT NULL,
     executor TEXT NOT NULL,
     state INTEGER NOT NULL,
     executor_state TEXT,
     kill_requested INTEGER NOT NULL DEFAULT 0
   );
   CREATE TABLE updates (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     uuid TEXT NOT NULL UNIQUE,
     task_id TEXT NOT NULL,
     status BLOB NOT NULL
   );
   CREATE INDEX updates_task ON updates(task_id);`,
  // The health verdict last reported, and when the task started running: a restarted agent
  // resumes the checks where they were (same verdict, same grace period).
  `ALTER TABLE tasks ADD COLUMN health BLOB;
   ALTER TABLE tasks ADD COLUMN running_since REAL;`,
  // Task ids are unique per framework, not on the agent: tasks are keyed by (framework, id).
  // Each keeps the name its sandbox, cgroup and container were made under: its bare id for
  // the tasks already here. Pending updates learn their task's framework for the same reason.
  `CREATE TABLE tasks_v3 (
     framework_id TEXT NOT NULL,
     task_id TEXT NOT NULL,
     name TEXT NOT NULL UNIQUE,
     info BLOB NOT NULL,
     executor TEXT NOT NULL,
     state INTEGER NOT NULL,
     executor_state TEXT,
     kill_requested INTEGER NOT NULL DEFAULT 0,
     health BLOB,
     running_since REAL,
     PRIMARY KEY (framework_id, task_id)
   );
   INSERT INTO tasks_v3 (framework_id, task_id, name, info, executor, state, executor_state, kill_requested,
     health, running_since)
     SELECT framework_id, task_id, task_id, info, executor, state, executor_state, kill_requested, health,
       running_since FROM tasks ORDER BY rowid;
   DROP TABLE tasks;
   ALTER TABLE tasks_v3 RENAME TO tasks;
   ALTER TABLE updates ADD COLUMN framework_id TEXT NOT NULL DEFAULT '';
   UPDATE updates SET framework_id =
     COALESCE((SELECT t.framework_id FROM tasks t WHERE t.task_id = updates.task_id), '');
   DROP INDEX updates_task;
   CREATE INDEX updates_task ON updates(framework_id, task_id);`,
];

interface TaskRow {
  name: string;
  task_id: string;
  framework_id: string;
  info: Buffer;
  executor: string;
  state: number;
  executor_state: string | null;
  kill_requested: number;
  health: Buffer | null;
  running_since: number | null;
}

export class Checkpoint {
  private readonly db: Database.Database;
  private readonly meta: MetaTable;
  private readonly insertTask: Database.Statement;
  private readonly insertUpdate: Database.Statement;
  private readonly updateState: Database.Statement;
  private readonly updateExecutorState: Database.Statement;
  private readonly updateHealth: Database.Statement;
  private readonly updateRunningSince: Database.Statement;
  private readonly markKillRequested: Database.Statement;
  private readonly selectPending: Database.Statement;
  private readonly selectUpdate: Database.Statement;
  private readonly deleteUpdate: Database.Statement;
  private readonly countUpdates: Database.Statement;
  private readonly deleteTask: Database.Statement;
  // Prepared once: a launch and an ack each cost one statement preparation otherwise, which
  // led an agent's profile when it launches many tasks at once.
  private readonly addUpdateTx: (status: TaskStatus, extra: UpdateExtras) => void;
  private readonly ackTx: (
    frameworkId: string,
    taskId: string,
    uuid: string,
  ) => { known: boolean; taskRemoved: boolean };

  /**
   * Opens (creating and migrating) `<dataDir>/agent.db`; with `inMemory`, a database of the
   * same schema that lives only as long as this object (for many agents in one process).
   */
  constructor(dataDir: string, opts: { inMemory?: boolean } = {}) {
    fs.mkdirSync(dataDir, { recursive: true });
    this.db = openDatabase(opts.inMemory ? ":memory:" : path.join(dataDir, "agent.db"), {
      migrations: CHECKPOINT_MIGRATIONS,
      name: "agent checkpoint",
      synchronous: "FULL",
    });
    this.meta = new MetaTable(this.db);
    // Every task statement names the task by (framework_id, task_id): ids are per framework.
    const byTask = "WHERE framework_id = ? AND task_id = ?";
    this.insertTask = this.db.prepare(
      `INSERT OR REPLACE INTO tasks (framework_id, task_id, name, info, executor, state, executor_state,
         kill_requested) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertUpdate = this.db.prepare(
      "INSERT INTO updates (uuid, framework_id, task_id, status) VALUES (?, ?, ?, ?)",
    );
    this.updateState = this.db.prepare(`UPDATE tasks SET state = ? ${byTask}`);
    this.updateExecutorState = this.db.prepare(`UPDATE tasks SET executor_state = ? ${byTask}`);
    this.updateHealth = this.db.prepare(`UPDATE tasks SET health = ? ${byTask}`);
    this.updateRunningSince = this.db.prepare(
      `UPDATE tasks SET running_since = COALESCE(running_since, ?) ${byTask}`,
    );
    this.markKillRequested = this.db.prepare(`UPDATE tasks SET kill_requested = 1 ${byTask}`);
    this.selectPending = this.db.prepare("SELECT seq, status FROM updates ORDER BY seq");
    // '' for an update a migration found without its task: matched by uuid and task id alone.
    this.selectUpdate = this.db.prepare(
      "SELECT status FROM updates WHERE uuid = ? AND framework_id IN (?, '') AND task_id = ?",
    );
    this.deleteUpdate = this.db.prepare("DELETE FROM updates WHERE uuid = ?");
    this.countUpdates = this.db.prepare(`SELECT COUNT(*) AS n FROM updates ${byTask}`);
    this.deleteTask = this.db.prepare(`DELETE FROM tasks ${byTask}`);
    this.addUpdateTx = this.db.transaction((status: TaskStatus, extra: UpdateExtras) => {
      if (extra.task) this.addTask(extra.task);
      const fw = status.frameworkId;
      const id = status.taskId;
      this.insertUpdate.run(status.uuid, fw, id, Buffer.from(TaskStatus.encode(status).finish()));
      this.updateState.run(status.state, fw, id);
      if (status.health) {
        this.updateHealth.run(Buffer.from(TaskHealth.encode(status.health).finish()), fw, id);
      }
      if (status.state === TaskState.TASK_RUNNING) this.updateRunningSince.run(status.timestamp, fw, id);
      if (extra.executorState) this.setExecutorState(fw, id, extra.executorState);
    });
    this.ackTx = this.db.transaction((frameworkId: string, taskId: string, uuid: string) => {
      const row = this.selectUpdate.get(uuid, frameworkId, taskId) as { status: Buffer } | undefined;
      if (!row) return { known: false, taskRemoved: false };
      this.deleteUpdate.run(uuid);
      const status = TaskStatus.decode(row.status);
      const left = this.countUpdates.get(frameworkId, taskId) as { n: number };
      if (isTerminal(status.state) && left.n === 0) {
        const r = this.deleteTask.run(frameworkId, taskId);
        return { known: true, taskRemoved: r.changes > 0 };
      }
      return { known: true, taskRemoved: false };
    });
  }

  close(): void {
    this.db.close();
  }

  agentId(): string | undefined {
    return this.meta.get("agent_id");
  }

  setAgentId(id: string | undefined): void {
    this.meta.set("agent_id", id);
  }

  /** The secret the master issued with the agent id; never logged. */
  agentSecret(): string | undefined {
    return this.meta.get("agent_secret");
  }

  setAgentSecret(secret: string | undefined): void {
    this.meta.set("agent_secret", secret);
  }

  /** The cluster the agent belongs to, from its first registration (empty before it). */
  clusterId(): string | undefined {
    return this.meta.get("cluster_id");
  }

  setClusterId(id: string | undefined): void {
    this.meta.set("cluster_id", id);
  }

  /** A real, durable write: whether the checkpoint can be written again after disk pressure. */
  probeWrite(): void {
    this.meta.set("last_write_probe", String(Date.now()));
  }

  /** Records a task about to be launched. */
  addTask(t: CheckpointedTask): void {
    this.insertTask.run(
      t.frameworkId,
      t.taskId,
      t.name,
      Buffer.from(TaskInfo.encode(t.info).finish()),
      t.executor,
      t.state,
      t.executorState ? JSON.stringify(t.executorState) : null,
      t.killRequested ? 1 : 0,
    );
  }

  setExecutorState(frameworkId: string, taskId: string, state: ExecutorState): void {
    this.updateExecutorState.run(JSON.stringify(state), frameworkId, taskId);
  }

  setKillRequested(frameworkId: string, taskId: string): void {
    this.markKillRequested.run(frameworkId, taskId);
  }

  tasks(): CheckpointedTask[] {
    const rows = this.db.prepare("SELECT * FROM tasks ORDER BY rowid").all() as TaskRow[];
    return rows.map((r) => ({
      name: r.name,
      taskId: r.task_id,
      frameworkId: r.framework_id,
      info: TaskInfo.decode(r.info),
      executor: r.executor,
      state: r.state as TaskState,
      executorState: r.executor_state ? (JSON.parse(r.executor_state) as ExecutorState) : undefined,
      killRequested: r.kill_requested === 1,
      health: r.health ? TaskHealth.decode(r.health) : undefined,
      runningSince: r.running_since ?? undefined,
    }));
  }

  /**
   * Stores an update to send and, in the same transaction, the task's new latest state, so
   * that a re-registration after a crash never reports a state older than an update sent.
   * `with.task` records the task itself first (its first update: one write, not two);
   * `with.executorState` stores what re-attaches to it (RUNNING: the container id and the
   * update are durable together, or neither is).
   */
  addUpdate(status: TaskStatus, extra: UpdateExtras = {}): void {
    this.addUpdateTx(status, extra);
  }

  /** Unacknowledged updates, oldest first (hence in order per task). */
  pendingUpdates(): PendingUpdate[] {
    const rows = this.selectPending.all() as {
      seq: number;
      status: Buffer;
    }[];
    return rows.map((r) => ({ seq: r.seq, status: TaskStatus.decode(r.status) }));
  }

  /**
   * Drops the acknowledged update. When it was terminal and nothing else is pending for the
   * task, the task leaves the checkpoint (its sandbox stays on disk). Returns whether the
   * uuid was pending.
   *
   * Committed with synchronous=NORMAL: WAL keeps it across a kill of the agent process, and
   * after a power loss the worst case is the update still pending, which is sent again and
   * deduplicated by the master by uuid. Every later FULL commit makes it durable as well.
   */
  ack(frameworkId: string, taskId: string, uuid: string): { known: boolean; taskRemoved: boolean } {
    this.db.pragma("synchronous = NORMAL");
    try {
      return this.ackTx(frameworkId, taskId, uuid);
    } finally {
      this.db.pragma("synchronous = FULL");
    }
  }

  /** Forgets a task and its pending updates (after STALE_AGENT). */
  removeTask(frameworkId: string, taskId: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM updates WHERE framework_id = ? AND task_id = ?").run(frameworkId, taskId);
      this.db.prepare("DELETE FROM tasks WHERE framework_id = ? AND task_id = ?").run(frameworkId, taskId);
    })();
  }

  /** Forgets every task and update (a new agent identity starts empty). */
  clearAll(): void {
    this.db.transaction(() => {
      this.db.exec("DELETE FROM updates; DELETE FROM tasks;");
    })();
  }
}
