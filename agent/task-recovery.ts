// Re-attaches a restarted agent to the tasks of its previous process, as its checkpoint names
// them: each one runs on (health checks and kills resumed where they were) or ends with a
// status update that says why it could not be found again.
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { isTerminal } from "../common/task-states.js";
import { TaskState } from "../proto/gen/yard/v1/common.js";
import type { ReportTask, TaskTable } from "./agent-task.js";
import type { Checkpoint } from "./checkpoint.js";
import type { Executor } from "./executor.js";
import type { ArtifactFetcher } from "./fetcher/artifact-fetcher.js";
import type { TaskLauncher } from "./task-launcher.js";

/** Only what the recovery uses of the agent. */
export interface TaskRecoveryComponents {
  tasks: TaskTable;
  executors: ReadonlyMap<string, Executor>;
  checkpoint: Pick<Checkpoint, "tasks" | "setExecutorState">;
  /** Pins the releases of recovered tasks, before the cache is swept. */
  fetcher: Pick<ArtifactFetcher, "pin">;
  launcher: Pick<TaskLauncher, "watchHealth" | "killInBackground">;
  report: ReportTask;
  agentId: () => string | undefined;
  logger: Logger;
}

/** Fills the task table from the checkpoint and re-attaches to the tasks still live. */
export async function recoverTasks(c: TaskRecoveryComponents): Promise<void> {
  for (const t of c.checkpoint.tasks()) {
    c.tasks.set(t.name, {
      name: t.name,
      taskId: t.taskId,
      frameworkId: t.frameworkId,
      info: t.info,
      executor: t.executor,
      state: t.state,
      killRequested: t.killRequested,
    });
    if (isTerminal(t.state)) continue; // only its update waits for an ack
    if (t.info.release) c.fetcher.pin(t.info.release, t.name);
    const ex = c.executors.get(t.executor);
    const agentId = c.agentId() ?? "";
    let executorState = t.executorState;
    let lookupError = "";
    if (ex?.findLaunched && !executorState) {
      // Killed between create and the RUNNING write: what it started says which task it is.
      try {
        executorState = await ex.findLaunched({ ...t, agentId });
        if (executorState) c.checkpoint.setExecutorState(t.frameworkId, t.taskId, executorState);
      } catch (err) {
        lookupError = `; its container could not be looked for: ${errorMessage(err)}`;
      }
    }
    if (!ex || !executorState) {
      c.report(t.name, {
        state: TaskState.TASK_FAILED,
        reason: ex ? Reason.LAUNCH_FAILED : Reason.EXIT_STATUS_UNKNOWN,
        message: ex
          ? `the agent stopped while launching the task${lookupError}`
          : `executor "${t.executor}" is not available on this agent after its restart`,
      });
      continue;
    }
    try {
      await ex.recover({ ...t, agentId, state: executorState });
      const task = c.tasks.get(t.name);
      // Health checks go on where they were: same verdict, grace counted from the first RUNNING.
      if (task && !t.killRequested && ex.isRunning(t.name)) {
        c.launcher.watchHealth(task, t.runningSince ? t.runningSince * 1000 : Date.now(), t.health);
      }
      // A launch cut short before its RUNNING update: the task runs, so say it.
      if (
        task &&
        (task.state === TaskState.TASK_STAGING || task.state === TaskState.TASK_STARTING) &&
        ex.isRunning(t.name)
      ) {
        c.report(t.name, { state: TaskState.TASK_RUNNING, reason: "", message: "" });
      }
      // A kill that was under way when the agent stopped is carried on.
      if (task && t.killRequested && ex.isRunning(t.name)) c.launcher.killInBackground(task);
    } catch (err) {
      c.report(t.name, {
        state: TaskState.TASK_FAILED,
        reason: Reason.EXIT_STATUS_UNKNOWN,
        message: `cannot re-attach to the task: ${errorMessage(err)}`,
      });
    }
  }
  if (c.tasks.size > 0) c.logger.info("recovered tasks from checkpoint", { tasks: c.tasks.size });
}
