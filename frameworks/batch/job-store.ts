// What the batch framework keeps durably: its framework id and secret, and its jobs with their
// tasks. Two implementations: SQLite (one instance, sqlite-job-store.ts) and the SDK's state
// store seam (kv-job-store.ts, on etcd when several instances share the work, one active).
// test/frameworks/batch/job-store.test.ts runs one contract against both.
import type { Job } from "../../proto/gen/yard/v1/batch.js";

export interface JobStore {
  /** "sqlite" or "etcd", for logs. */
  readonly backend: string;
  frameworkId(): string | undefined;
  /** The framework secret (failover proof) the master issued with the id; never logged. */
  frameworkSecret(): string | undefined;
  /** Keeps the framework id with its secret (both undefined: forget them). */
  setFrameworkId(id: string | undefined, secret?: string): void;
  /** Every job with its tasks (by index), oldest first. */
  loadJobs(): Job[];
  /**
   * Writes the job (its spec only the first time: a spec never changes) and the given task
   * rows (all of them when `taskIndexes` is omitted), atomically.
   */
  saveJob(job: Job, taskIndexes?: readonly number[]): void;
  /** Forgets jobs and their tasks, atomically. */
  deleteJobs(ids: readonly string[]): void;
  /**
   * Resolves once every write so far is durable (at once in SQLite); rejects when it never will
   * be (this instance lost its leadership). Awaited before a launch and before a client is answered.
   */
  durable(): Promise<void>;
  close(): void;
}
