// The seam between the agent and the ways it runs tasks: `process` today, `docker` beside it
// later. An executor launches, kills, re-attaches after an agent restart, measures and
// locates logs; it reports the end of every task exactly once through `onEnded`.
import type { TaskInfo, TaskState } from "../proto/gen/yard/v1/common.js";
import type { ExecutorState } from "./checkpoint.js";

export type { ExecutorState };

export interface LaunchRequest {
  taskId: string;
  frameworkId: string;
  agentId: string;
  info: TaskInfo;
}

export interface RecoverRequest extends LaunchRequest {
  state: ExecutorState;
  /** A kill was under way when the agent stopped: the end is reported as KILLED. */
  killRequested: boolean;
}

/** How a task ended; the agent turns it into a terminal status update. */
export interface TaskEnded {
  taskId: string;
  state: TaskState;
  reason: string;
  message: string;
  exitCode?: number;
}

export interface TaskResourceUsage {
  cpuSeconds: number;
  memBytes: number;
}

export type LogStream = "stdout" | "stderr";

/** Thrown by `launch` when the task could not be started at all (REASON_LAUNCH_FAILED). */
export class LaunchError extends Error {
  constructor(
    readonly taskId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "LaunchError";
  }
}

export interface Executor {
  readonly name: string;
  /**
   * Starts the task and resolves the state to checkpoint (once the task runs). Rejects with
   * LaunchError when it could not start. The end is reported later through onEnded, never
   * before this promise has resolved.
   */
  launch(req: LaunchRequest): Promise<ExecutorState>;
  /**
   * Re-attaches to a task launched by an earlier agent process. A task that still runs is
   * watched again; one that ended meanwhile is reported through onEnded.
   */
  recover(req: RecoverRequest): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the task has ended. */
  kill(taskId: string, graceMs: number): Promise<void>;
  /** Whether the executor watches this task and it has not ended. */
  isRunning(taskId: string): boolean;
  usage(taskId: string): TaskResourceUsage | undefined;
  /** The file holding a task's stdout or stderr (also after it ended). */
  logPath(taskId: string, stream: LogStream): string;
  /** Stops watching; the tasks themselves keep running. */
  stop(): Promise<void>;
}

export interface ExecutorComponents {
  onEnded: (ended: TaskEnded) => void;
}
