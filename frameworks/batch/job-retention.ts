// How long the batch framework remembers jobs that have ended. A long-lived framework that
// keeps every job it ever ran grows without bound, in memory and in batch.db; Kubernetes'
// TTL-after-finished and Nomad's job GC bound it the same two ways. An ended job is forgotten
// once it is older than `maxAgeSeconds` (since it ended), or when more than `maxEnded` ended
// jobs are kept (the ones that ended first go first). Jobs still running are never forgotten.
import { InvalidArgumentError } from "../../common/errors.js";
import type { Job } from "../../proto/gen/yard/v1/batch.js";
import { isJobEnded } from "./job-state.js";

export interface JobRetention {
  /** Ended jobs kept at most (default 1,000); 0 forgets a job as soon as it ends. */
  maxEnded: number;
  /** Seconds an ended job is kept after it ended (default 7 days). */
  maxAgeSeconds: number;
}

export const DEFAULT_JOB_RETENTION: JobRetention = { maxEnded: 1_000, maxAgeSeconds: 7 * 24 * 3600 };

/** Ids of the ended jobs to forget at `now` (seconds). Ties in end time go by id. */
export function jobsToForget(jobs: Iterable<Job>, retention: JobRetention, now: number): string[] {
  const ended = [...jobs]
    .filter(isJobEnded)
    .sort((a, b) => b.finishedAt - a.finishedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const forget: string[] = [];
  ended.forEach((job, i) => {
    if (i >= retention.maxEnded || now - job.finishedAt > retention.maxAgeSeconds) forget.push(job.id);
  });
  return forget;
}

/** Checks retention settings; the error names the setting and the value. */
export function checkRetention(r: JobRetention): JobRetention {
  if (!Number.isInteger(r.maxEnded) || r.maxEnded < 0) {
    throw new InvalidArgumentError("retention.maxEnded", `${r.maxEnded} is not a whole number of 0 or more`);
  }
  if (!Number.isFinite(r.maxAgeSeconds) || r.maxAgeSeconds <= 0) {
    throw new InvalidArgumentError(
      "retention.maxAgeSeconds",
      `${r.maxAgeSeconds} is not a positive number of seconds`,
    );
  }
  return r;
}
