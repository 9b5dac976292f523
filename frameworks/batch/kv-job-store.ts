// The batch framework's store on the SDK's state store seam (framework-sdk/state/): a job as
// one JSON document and each task as its own, so that a task's update rewrites one small value.
// Used on etcd, where several instances of the framework share one state and one framework id.
//
//   meta/framework_id, meta/framework_secret
//   jobs/<job id>                    the job without its tasks (spec as JobSpec JSON)
//   tasks/<job id>/<index>           JobTask
import { FrameworkIdentity, keyPart, padKey, type StateKv } from "../../framework-sdk/index.js";
import { type Job, JobSpec, type JobTask } from "../../proto/gen/yard/v1/batch.js";
import type { JobStore } from "./job-store.js";

interface JobDoc {
  id: string;
  spec: unknown;
  state: string;
  createdAt: number;
  finishedAt: number;
  message: string;
}

export class KvJobStore implements JobStore {
  private readonly identity: FrameworkIdentity;

  constructor(private readonly kv: StateKv) {
    this.identity = FrameworkIdentity.onStateKv(kv);
  }

  get backend(): string {
    return this.kv.backend;
  }

  frameworkId(): string | undefined {
    return this.identity.frameworkId();
  }

  frameworkSecret(): string | undefined {
    return this.identity.frameworkSecret();
  }

  setFrameworkId(id: string | undefined, secret?: string): void {
    this.identity.setFrameworkId(id, secret);
  }

  loadJobs(): Job[] {
    const jobs = new Map<string, Job>();
    for (const [, value] of this.kv.range("jobs/")) {
      const d = JSON.parse(value) as JobDoc;
      jobs.set(d.id, {
        id: d.id,
        spec: JobSpec.fromJSON(d.spec),
        state: d.state,
        tasks: [],
        createdAt: d.createdAt,
        finishedAt: d.finishedAt,
        message: d.message,
      });
    }
    // Keys of one job's tasks sort by their padded index.
    for (const [, value] of this.kv.range("tasks/")) {
      const t = JSON.parse(value) as JobTask & { jobId: string };
      const { jobId, ...task } = t;
      jobs.get(jobId)?.tasks.push({ ...task, exitCode: task.exitCode ?? undefined });
    }
    return [...jobs.values()].sort((a, b) => a.createdAt - b.createdAt || cmp(a.id, b.id));
  }

  saveJob(job: Job, taskIndexes?: readonly number[]): void {
    const kv = this.kv;
    const key = `jobs/${keyPart(job.id)}`;
    const stored = kv.get(key);
    const doc: JobDoc = {
      id: job.id,
      // As in the SQLite store, the spec is written once: a job's spec never changes.
      spec: stored
        ? (JSON.parse(stored) as JobDoc).spec
        : JobSpec.toJSON(job.spec ?? JobSpec.fromPartial({})),
      state: job.state,
      createdAt: job.createdAt,
      finishedAt: job.finishedAt,
      message: job.message,
    };
    const tasks: JobTask[] = taskIndexes ? taskIndexes.map((i) => job.tasks[i]!) : job.tasks;
    kv.unit(() => {
      kv.put(key, JSON.stringify(doc));
      for (const t of tasks) {
        kv.put(`tasks/${keyPart(job.id)}/${padKey(t.index)}`, JSON.stringify({ jobId: job.id, ...t }));
      }
    });
  }

  deleteJobs(ids: readonly string[]): void {
    if (ids.length === 0) return;
    this.kv.unit(() => {
      for (const id of ids) {
        this.kv.delete(`jobs/${keyPart(id)}`);
        this.kv.deletePrefix(`tasks/${keyPart(id)}/`);
      }
    });
  }

  durable(): Promise<void> {
    return this.kv.durable();
  }

  /** The state store belongs to whoever opened it (the framework's leadership); nothing to do. */
  close(): void {}
}

/** Plain code-unit order, the order SQLite's BINARY collation gives the SQLite store. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
