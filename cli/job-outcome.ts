// How `yardctl run` ends: the exit code and the line to print, from the batch job's final
// state. Pure.
import { stateName } from "../common/task-states.js";
import { TaskState } from "../proto/gen/yard/v1/common.js";
import type { Job, JobTask } from "../proto/gen/yard/v1/batch.js";

export const JOB_DONE = new Set(["SUCCEEDED", "FAILED", "KILLED"]);

export interface Outcome {
  exitCode: number;
  /** Said on stderr when the exit code alone does not explain the end. */
  message?: string;
}

/**
 * SUCCEEDED -> 0. A task that exited non-zero -> its exit code (the first such task, by
 * index). Killed, lost or failed to launch -> 1 and the reason.
 */
export function jobOutcome(job: Job): Outcome {
  if (job.state === "SUCCEEDED") return { exitCode: 0 };
  const tasks = [...job.tasks].sort((a, b) => a.index - b.index);
  const exited = tasks.find(
    (t) => t.state === TaskState.TASK_FAILED && t.exitCode !== undefined && t.exitCode !== 0,
  );
  if (exited && job.state !== "KILLED") {
    const oom = /memory/i.test(exited.message);
    return { exitCode: exited.exitCode!, message: oom ? describeTask(exited) : undefined };
  }
  if (job.state === "KILLED") {
    // The job's last state may arrive before its tasks' final ones: say only what is known.
    return { exitCode: 1, message: `job ${job.id} was killed${job.message ? `: ${job.message}` : ""}` };
  }
  const bad = tasks.find((t) => t.state !== TaskState.TASK_FINISHED);
  return {
    exitCode: 1,
    message: bad ? describeTask(bad) : job.message || `job ${job.id} ended ${job.state}`,
  };
}

function describeTask(t: JobTask): string {
  const state = stateName(t.state).toLowerCase();
  return `task ${t.taskId || `#${t.index}`} ${state}${t.message ? `: ${t.message}` : ""}`;
}
