// How a container's end becomes a task's end. Pure: it reads the `State` of a container
// inspect, so each outcome (exit 0, exit N, OOM kill, kill on request, a container that
// vanished) is a table-driven unit test.
import { Reason } from "../../common/reasons.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import type { TaskEnded } from "../executor.js";

/** The fields of a container inspect's `State` that decide the outcome. */
export interface ContainerEndState {
  ExitCode?: number;
  OOMKilled?: boolean;
  Error?: string;
}

export interface EndContext {
  taskId: string;
  killRequested: boolean;
  memLimitMiB: number;
}

/**
 * `state` undefined means the container is gone (removed behind the agent's back), so its
 * exit code is lost. A kill on request wins over everything: the task was meant to stop.
 */
export function classifyContainerEnd(ctx: EndContext, state: ContainerEndState | undefined): TaskEnded {
  const { taskId } = ctx;
  if (ctx.killRequested) {
    return {
      taskId,
      state: TaskState.TASK_KILLED,
      reason: Reason.KILL_REQUESTED,
      message: "killed on request",
      exitCode: state?.ExitCode,
    };
  }
  if (!state) {
    return {
      taskId,
      state: TaskState.TASK_FAILED,
      reason: Reason.EXIT_STATUS_UNKNOWN,
      message: "the task's container was removed outside the agent; its exit status is lost",
    };
  }
  const exitCode = state.ExitCode ?? -1;
  if (state.OOMKilled) {
    return {
      taskId,
      state: TaskState.TASK_FAILED,
      reason: Reason.MEMORY_LIMIT,
      message: `OOMKilled: task exceeded its memory limit of ${ctx.memLimitMiB} MiB and was OOM-killed`,
      exitCode,
    };
  }
  if (state.Error) {
    return {
      taskId,
      state: TaskState.TASK_FAILED,
      reason: Reason.LAUNCH_FAILED,
      message: `the container failed: ${state.Error}`,
      exitCode,
    };
  }
  const message =
    exitCode > 128
      ? `exited with code ${exitCode} (signal ${exitCode - 128})`
      : `exited with code ${exitCode}`;
  return {
    taskId,
    state: exitCode === 0 ? TaskState.TASK_FINISHED : TaskState.TASK_FAILED,
    reason: Reason.COMMAND_EXITED,
    message,
    exitCode,
  };
}
