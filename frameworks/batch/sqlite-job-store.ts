// Durable state of the batch framework in SQLite (the default, one instance): its framework id
// and its jobs (WAL, synchronous=FULL: a job the client was told about, or a launch about to be
// sent, must not vanish in a crash). Schema versioned with PRAGMA user_version.
import type Database from "better-sqlite3";
import { FrameworkIdentity, MetaTable, openStateDatabase } from "../../framework-sdk/index.js";
import { type Job, JobSpec, type JobTask } from "../../proto/gen/yard/v1/batch.js";
import type { JobStore } from "./job-store.js";

const MIGRATIONS: string[] = [
  // v1
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE jobs (
     id TEXT PRIMARY KEY,
     spec TEXT NOT NULL,
     state TEXT NOT NULL,
     created_at REAL NOT NULL,
     finished_at REAL NOT NULL,
     message TEXT NOT NULL
   );
   CREATE TABLE job_tasks (
     job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
     idx INTEGER NOT NULL,
     task_id TEXT NOT NULL,
     attempt INTEGER NOT NULL,
     state INTEGER NOT NULL,
     agent_id TEXT NOT NULL,
     exit_code INTEGER,
     message TEXT NOT NULL,
     PRIMARY KEY (job_id, idx)
   );`,
];

interface JobRow {
  id: string;
  spec: string;
  state: string;
  created_at: number;
  finished_at: number;
  message: string;
}

interface TaskRow {
  job_id: string;
  idx: number;
  task_id: string;
  attempt: number;
  state: number;
  agent_id: string;
  exit_code: number | null;
  message: string;
}

export class SqliteJobStore implements JobStore {
  readonly backend = "sqlite";
  private readonly db: Database.Database;
  private readonly identity: FrameworkIdentity;

  constructor(file: string) {
    this.db = openStateDatabase(file, {
      migrations: MIGRATIONS,
      name: "batch store",
      synchronous: "FULL",
      foreignKeys: true,
    });
    const db = this.db;
    this.identity = new FrameworkIdentity(new MetaTable(db), (writes) => db.transaction(writes)());
  }

  frameworkId(): string | undefined {
    return this.identity.frameworkId();
  }

  /** The framework secret (failover proof) the master issued with the id; never logged. */
  frameworkSecret(): string | undefined {
    return this.identity.frameworkSecret();
  }

  /** Keeps the framework id with its secret, in one transaction (both undefined: forget them). */
  setFrameworkId(id: string | undefined, secret?: string): void {
    this.identity.setFrameworkId(id, secret);
  }

  /** Every job with its tasks, oldest first. */
  loadJobs(): Job[] {
    const jobs = new Map<string, Job>();
    for (const r of this.db.prepare("SELECT * FROM jobs ORDER BY created_at, id").all() as JobRow[]) {
      jobs.set(r.id, {
        id: r.id,
        spec: JobSpec.fromJSON(JSON.parse(r.spec)),
        state: r.state,
        tasks: [],
        createdAt: r.created_at,
        finishedAt: r.finished_at,
        message: r.message,
      });
    }
    for (const r of this.db.prepare("SELECT * FROM job_tasks ORDER BY job_id, idx").all() as TaskRow[]) {
      jobs.get(r.job_id)?.tasks.push({
        index: r.idx,
        taskId: r.task_id,
        attempt: r.attempt,
        state: r.state,
        agentId: r.agent_id,
        exitCode: r.exit_code ?? undefined,
        message: r.message,
      });
    }
    return [...jobs.values()];
  }

  /** Writes the job row and the given task rows (all of them when `taskIndexes` is omitted), atomically. */
  saveJob(job: Job, taskIndexes?: readonly number[]): void {
    const upsertJob = this.db.prepare(
      `INSERT INTO jobs (id, spec, state, created_at, finished_at, message) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, finished_at = excluded.finished_at, message = excluded.message`,
    );
    const upsertTask = this.db.prepare(
      `INSERT INTO job_tasks (job_id, idx, task_id, attempt, state, agent_id, exit_code, message)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(job_id, idx) DO UPDATE SET task_id = excluded.task_id, attempt = excluded.attempt,
         state = excluded.state, agent_id = excluded.agent_id, exit_code = excluded.exit_code, message = excluded.message`,
    );
    const tasks: JobTask[] = taskIndexes ? taskIndexes.map((i) => job.tasks[i]) : job.tasks;
    this.db.transaction(() => {
      upsertJob.run(
        job.id,
        JSON.stringify(JobSpec.toJSON(job.spec ?? JobSpec.fromPartial({}))),
        job.state,
        job.createdAt,
        job.finishedAt,
        job.message,
      );
      for (const t of tasks) {
        upsertTask.run(
          job.id,
          t.index,
          t.taskId,
          t.attempt,
          t.state,
          t.agentId,
          t.exitCode ?? null,
          t.message,
        );
      }
    })();
  }

  /** Forgets jobs and their tasks, atomically. */
  deleteJobs(ids: readonly string[]): void {
    if (ids.length === 0) return;
    const del = this.db.prepare("DELETE FROM jobs WHERE id = ?");
    this.db.transaction(() => {
      for (const id of ids) del.run(id);
    })();
  }

  /** Every write is durable when it returns. */
  durable(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.db.close();
  }
}
