// The job state machine over plain data: a job is N tasks run to completion, each retried
// up to max_retries times. No I/O: the daemon calls these, then persists and notifies.
// Functions mutate the Job they are given and return what changed and what to kill.
//
// A task of the current attempt is *pending* while its state is TASK_STATE_UNSPECIFIED (no
// launch yet). Each attempt has its own task id `<job id>.<index>.<attempt>`, so an update
// of an older attempt is recognised and ignored.
import { isTerminal, Reason, stateName, type TaskStatus, TaskState } from "../../framework-sdk/index.js";
import type { Job, JobSpec, JobTask } from "../../proto/gen/yard/v1/batch.js";

export const JobState = {
  PENDING: "PENDING",
  RUNNING: "RUNNING",
  SUCCEEDED: "SUCCEEDED",
  FAILED: "FAILED",
  KILLED: "KILLED",
} as const;
export type JobStateName = (typeof JobState)[keyof typeof JobState];

const ENDED = new Set<string>([JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED]);

export function isJobEnded(job: Job): boolean {
  return ENDED.has(job.state);
}

export function attemptTaskId(jobId: string, index: number, attempt: number): string {
  return `${jobId}.${index}.${attempt}`;
}

export function isPendingTask(t: JobTask): boolean {
  return t.state === TaskState.TASK_STATE_UNSPECIFIED;
}

/** Launched in this attempt and not yet ended: what a kill must reach. */
export function isLiveTask(t: JobTask): boolean {
  return !isPendingTask(t) && !isTerminal(t.state);
}

export function newJob(id: string, spec: JobSpec, now: number): Job {
  const tasks: JobTask[] = [];
  for (let index = 0; index < spec.tasks; index++) {
    tasks.push({
      index,
      taskId: attemptTaskId(id, index, 0),
      attempt: 0,
      state: TaskState.TASK_STATE_UNSPECIFIED,
      agentId: "",
      exitCode: undefined,
      message: "",
    });
  }
  return { id, spec, state: JobState.PENDING, tasks, createdAt: now, finishedAt: 0, message: "" };
}

export interface JobChange {
  /** Indexes of the tasks whose row changed. */
  tasks: number[];
  /** Task ids to kill (live tasks of a job that just ended). */
  kill: string[];
  /** Whether the job row itself (state, message) changed. */
  job: boolean;
}

const NO_CHANGE: JobChange = { tasks: [], kill: [], job: false };

/** Records that the current attempt of task `index` was sent to an agent. */
export function markLaunched(job: Job, index: number, agentId: string): JobChange {
  const t = job.tasks[index];
  t.state = TaskState.TASK_STAGING;
  t.agentId = agentId;
  t.message = "";
  return { tasks: [index], kill: [], job: recomputeState(job, 0) };
}

/** The launch was refused before it reached an agent: the task is pending again, same attempt. */
export function markLaunchFailed(job: Job, index: number, message: string): JobChange {
  const t = job.tasks[index];
  if (isJobEnded(job)) return NO_CHANGE;
  t.state = TaskState.TASK_STATE_UNSPECIFIED;
  t.agentId = "";
  t.message = `launch refused: ${message}`;
  return { tasks: [index], kill: [], job: recomputeState(job, 0) };
}

/** Applies one status update of one of the job's tasks. */
export function applyTaskStatus(job: Job, status: TaskStatus, now: number): JobChange {
  const index = job.tasks.findIndex((t) => t.taskId === status.taskId);
  if (index < 0) return NO_CHANGE; // an older attempt, or not ours
  const t = job.tasks[index];
  if (t.state === status.state && t.message === status.message) return NO_CHANGE;
  // Terminal is final (the master never sends two ends). UNREACHABLE is not terminal: the
  // task is waited for, and retried only once its agent is declared gone (LOST).
  if (isTerminal(t.state)) return NO_CHANGE;

  // A launch the master never recorded (the framework stopped between persisting the launch
  // and Accept): not a failure of the task, so it goes back to pending without using a retry.
  if (
    status.state === TaskState.TASK_LOST &&
    status.reason === Reason.TASK_UNKNOWN &&
    t.state === TaskState.TASK_STAGING
  ) {
    return markLaunchFailed(job, index, "the master does not know the launch");
  }

  t.state = status.state;
  if (status.agentId) t.agentId = status.agentId;
  t.exitCode = status.exitCode;
  t.message = status.message;
  const change: JobChange = { tasks: [index], kill: [], job: false };
  if (!isTerminal(status.state) || status.state === TaskState.TASK_FINISHED || isJobEnded(job)) {
    change.job = recomputeState(job, now);
    return change;
  }

  const what = `${stateName(status.state)}${status.message ? `: ${status.message}` : ""}`;
  const maxRetries = job.spec?.maxRetries ?? 0;
  if (t.attempt < maxRetries) {
    t.attempt += 1;
    t.taskId = attemptTaskId(job.id, index, t.attempt);
    t.state = TaskState.TASK_STATE_UNSPECIFIED;
    t.agentId = "";
    t.exitCode = undefined;
    t.message = `attempt ${t.attempt - 1} ${what}`;
    change.job = recomputeState(job, now);
    return change;
  }
  return endJob(
    job,
    JobState.FAILED,
    `task ${index} failed after ${t.attempt + 1} attempt(s): ${what}`,
    now,
    [index],
  );
}

/** Kills the job: pending tasks never start, live tasks are to be killed. */
export function killJob(job: Job, now: number): JobChange {
  if (isJobEnded(job)) return NO_CHANGE;
  return endJob(job, JobState.KILLED, "killed on request", now, []);
}

function endJob(job: Job, state: JobStateName, message: string, now: number, touched: number[]): JobChange {
  job.state = state;
  job.message = message;
  job.finishedAt = now;
  const change: JobChange = { tasks: [...touched], kill: [], job: true };
  for (const t of job.tasks) {
    if (isPendingTask(t)) {
      t.state = TaskState.TASK_KILLED;
      t.message = `not started: job ${state.toLowerCase()}`;
      change.tasks.push(t.index);
    } else if (isLiveTask(t)) {
      change.kill.push(t.taskId);
    }
  }
  return change;
}

/** PENDING until a task was launched, RUNNING until every task finished. Returns whether it moved. */
function recomputeState(job: Job, now: number): boolean {
  if (isJobEnded(job)) return false;
  let next: JobStateName;
  if (job.tasks.every((t) => t.state === TaskState.TASK_FINISHED)) next = JobState.SUCCEEDED;
  else if (job.tasks.some((t) => !isPendingTask(t) || t.attempt > 0)) next = JobState.RUNNING;
  else next = JobState.PENDING;
  if (next === job.state) return false;
  job.state = next;
  if (next === JobState.SUCCEEDED) {
    job.finishedAt = now;
    job.message = `${job.tasks.length} task(s) finished`;
  }
  return true;
}
