// The task state machine as data: which states are terminal and which moves are allowed.
import { TaskState, taskStateToJSON } from "../proto/gen/yard/v1/common.js";

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
 * Whether a task in `from` may move to `to`. Terminal states are final, except that a
 * task reported LOST or UNREACHABLE by the master may be seen again by its agent.
 */
export function canTransition(from: TaskState, to: TaskState): boolean {
  if (from === to) return true;
  if (from === TaskState.TASK_LOST || from === TaskState.TASK_UNREACHABLE) return true;
  return !isTerminal(from);
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
