// The seam between the agent and the ways it runs tasks (`process`, `docker`, or whatever a
// benchmark or test injects). An executor launches, kills, re-attaches after an agent
// restart, measures and locates logs; it reports the end of every task exactly once through
// `onEnded`. What differs between executors is said by the interface, never by asking which
// class an executor is: the agent stays the same whatever runs its tasks.
import type { TaskInfo, TaskState } from "../proto/gen/yard/v1/common.js";
import type { ExecutorState } from "./checkpoint.js";

export type { ExecutorState };

export interface LaunchRequest {
  /**
   * The task's name on this agent (agent-task.ts): task ids are unique per framework only,
   * so an executor keys its tasks by this name, names sandboxes, cgroups and containers after
   * it, and every other method of Executor takes it. Defaults to `taskId` (a caller that
   * drives an executor alone); `taskId` itself is what the task sees (YARD_TASK_ID, labels).
   */
  name?: string;
  taskId: string;
  frameworkId: string;
  agentId: string;
  info: TaskInfo;
  /**
   * The user the framework asks its tasks to run as (RunTask.user); empty or absent: the
   * agent's default task user. Executors that do not switch users ignore it.
   */
  user?: string;
  /**
   * For an executor that checkpoints "while-creating": called once, after its slow create
   * request has gone out and before its answer is awaited; the agent writes the task and its
   * STARTING update there. If it throws, the launch is undone and rejects with that error.
   * Not called when the launch fails before the create request.
   */
  onCreating?: () => void;
}

export interface RecoverRequest extends LaunchRequest {
  state: ExecutorState;
  /** A kill was under way when the agent stopped: the end is reported as KILLED. */
  killRequested: boolean;
}

/** How a task ended; the agent turns it into a terminal status update. */
export interface TaskEnded {
  /** The name the task was launched under (LaunchRequest.name). */
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

/** How a command run inside a task (`Executor.exec`) ended. */
export interface ExecResult {
  /** Undefined when it did not exit by itself (timed out, or killed by a signal). */
  exitCode: number | undefined;
  timedOut: boolean;
  /** The end of its combined stdout and stderr (a few KiB at most), for messages. */
  output: string;
}

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

/** The name an executor keys a task by: LaunchRequest.name, or its task id without one. */
export function executorKey(req: LaunchRequest): string {
  return req.name ?? req.taskId;
}

/**
 * An executor. Every method but launch, recover and findLaunched names a task by the name it
 * was launched under (LaunchRequest.name), given as `taskId`.
 */
export interface Executor {
  readonly name: string;
  /**
   * When a new task enters the agent's checkpoint. "before-launch": before `launch` is called,
   * because what the executor starts could not be found again without it (a process).
   * "while-creating": the executor calls `onCreating` while its create request is in flight
   * and the agent reports TASK_STARTING then (a container: nothing waits for the write); what
   * the executor started without a checkpointed state is found by `findLaunched`, or removed
   * by `removeOrphans`.
   */
  readonly checkpointAt: "before-launch" | "while-creating";
  /**
   * The directory a task's release is unpacked into before `launch`; undefined when the
   * executor takes the release in at fetch time itself (an image loaded into the engine).
   */
  releaseDir(taskId: string): string | undefined;
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
  /**
   * Runs `command` with /bin/sh -c inside the running task: in its sandbox with its
   * environment (process), or in its container (docker). Health checks use it. Resolves
   * with timedOut when it has not exited within `timeoutMs` (what it started is killed
   * where the executor can); rejects when the task is not running here.
   */
  exec(taskId: string, command: string, timeoutMs: number): Promise<ExecResult>;
  /** The file holding a task's stdout or stderr (also after it ended). */
  logPath(taskId: string, stream: LogStream): string;
  /** Stops watching; the tasks themselves keep running. */
  stop(): Promise<void>;
  /**
   * For a task checkpointed without executor state (the agent stopped mid-launch): the state
   * of what that launch started, to pass to `recover`; undefined when it started nothing.
   */
  findLaunched?(req: LaunchRequest): Promise<ExecutorState | undefined>;
  /**
   * Removes what the executor runs for this agent that no watched task holds (the checkpoint
   * lost it). Called once after every recover.
   */
  removeOrphans?(agentId: string): Promise<unknown>;
}

export interface ExecutorComponents {
  onEnded: (ended: TaskEnded) => void;
}

/** Builds an executor for an agent; the agent hands it where to report ends. */
export type ExecutorFactory = (components: ExecutorComponents) => Executor;
