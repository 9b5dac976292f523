// The task state machine as data: which states are terminal, which moves are allowed, and
// which ends are the infrastructure's doing rather than the task's.
import { TaskState, taskStateToJSON } from "../proto/gen/yard/v1/common.js";
import { Reason } from "./reasons.js";

export { TaskState };

const TERMINAL = new Set<TaskState>([
  TaskState.TASK_FINISHED,
  TaskState.TASK_FAILED,
  TaskState.TASK_KILLED,
  TaskState.TASK_LOST,
  TaskState.TASK_ERROR,
]);

export function isTerminal(state: TaskState): boolean {
  return TERMINAL.has(state);
}

/**
 * Whether a task whose recorded state is `from` may take the update `to`. A terminal state is
 * final: once the master has stored and sent one, it stores and sends nothing else for the
 * task, not even the same terminal state a second time (a framework must never hear two ends
 * of one task, or it redoes work that succeeded). Every non-terminal state may move anywhere,
 * UNREACHABLE included: a task on an agent that comes back reports its real state.
 * This is the one place the rule lives; the master's status path applies it to every update,
 * whether an agent or the master itself made it.
 */
export function canTransition(from: TaskState, _to: TaskState): boolean {
  return !isTerminal(from);
}

/**
 * Reasons that say the task's host went away or could not take it, not that the task failed.
 * DISK_PRESSURE is the host's state, whatever the task; INSUFFICIENT_DISK is not here: it says
 * the release is too big for that host, which a scheduler should hear as a failure rather than
 * retry forever.
 */
const INFRASTRUCTURE_REASONS = new Set<string>([
  Reason.AGENT_UNREACHABLE,
  Reason.AGENT_GONE,
  Reason.TASK_GONE,
  Reason.AGENT_DRAINED,
  Reason.DISK_PRESSURE,
]);

/**
 * Whether an update reports a task cut off or ended by the infrastructure (its agent
 * unreachable, gone, drained or under disk pressure) rather than by its own doing. Schedulers replace such tasks,
 * but must not count them as failures of the task's code (no crash backoff, no failed
 * rollout).
 */
export function isInfrastructureLoss(status: { state: TaskState; reason: string }): boolean {
  if (status.state === TaskState.TASK_UNREACHABLE) return true;
  return INFRASTRUCTURE_REASONS.has(status.reason);
}

/** "TASK_RUNNING" -> "RUNNING", for tables. */
export function stateName(state: TaskState): string {
  return taskStateToJSON(state).replace(/^TASK_/, "");
}

export function parseStateName(name: string): TaskState | undefined {
  const key = `TASK_${name.toUpperCase().replace(/^TASK_/, "")}` as keyof typeof TaskState;
  const v = TaskState[key];
  return typeof v === "number" ? v : undefined;
}
