// An executor that runs nothing: a launched task is RUNNING at once and stays so until it is
// killed. Injected into a real agent (startAgent's `executors`), it leaves everything else
// real (checkpoint, status updates, the master stream), so a benchmark measures Yard rather
// than fork() and process start-up, and cannot drift from the protocol as a copy would.
import { devNull } from "node:os";
import { Reason } from "../../common/reasons.js";
import {
  type ExecResult,
  type Executor,
  type ExecutorComponents,
  type ExecutorState,
  executorKey,
  type LaunchRequest,
  type RecoverRequest,
  type TaskResourceUsage,
} from "../../agent/executor.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";

export class NullExecutor implements Executor {
  readonly checkpointAt = "before-launch";
  protected readonly running = new Set<string>();

  constructor(
    protected readonly components: ExecutorComponents,
    readonly name = "process",
  ) {}

  async launch(req: LaunchRequest): Promise<ExecutorState> {
    this.running.add(executorKey(req));
    return {};
  }

  /** Nothing ran, so nothing ended while the agent was away: the task is watched again. */
  async recover(req: RecoverRequest): Promise<void> {
    this.running.add(executorKey(req));
  }

  async kill(taskId: string): Promise<void> {
    if (!this.running.delete(taskId)) return;
    await this.release(taskId);
    this.components.onEnded({
      taskId,
      state: TaskState.TASK_KILLED,
      reason: Reason.KILL_REQUESTED,
      message: "killed on request",
    });
  }

  isRunning(taskId: string): boolean {
    return this.running.has(taskId);
  }

  usage(): TaskResourceUsage | undefined {
    return undefined;
  }

  /** There is nothing to run a command in: it "exits 0" for a task that runs. */
  async exec(taskId: string): Promise<ExecResult> {
    if (!this.running.has(taskId)) throw new Error(`task ${taskId} is not running`);
    return { exitCode: 0, timedOut: false, output: "" };
  }

  logPath(): string {
    return devNull;
  }

  releaseDir(): undefined {
    return undefined;
  }

  async stop(): Promise<void> {}

  /** What a subclass frees when a task ends (before its end is reported). */
  protected async release(_taskId: string): Promise<void> {}
}
