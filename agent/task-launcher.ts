// Starts and stops the agent's tasks: a RunTask becomes a checkpointed, fetched, launched task
// whose every step ends in a status update; a KillTask or a shutdown stops it within its grace.
import { errorMessage } from "../common/errors.js";
import { TASK_ID_PATTERN } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { firstPorts } from "../common/resources.js";
import { isTerminal } from "../common/task-states.js";
import type { KillTask, RunTask } from "../proto/gen/yard/v1/agent.js";
import { type TaskHealth, TaskState } from "../proto/gen/yard/v1/common.js";
import { type AgentTask, findTask, type ReportTask, type TaskTable, taskName } from "./agent-task.js";
import type { Checkpoint, CheckpointedTask } from "./checkpoint.js";
import type { DiskPressure } from "./disk-pressure.js";
import type { Executor, LaunchRequest, TaskEnded } from "./executor.js";
import { LaunchError } from "./executor.js";
import { type ArtifactFetcher, InsufficientSpaceError } from "./fetcher/artifact-fetcher.js";
import type { HealthChecker } from "./health/health-checker.js";
import type { StatusUpdates } from "./status-updates.js";

/** Only what launching and killing use of the agent. */
export interface TaskLauncherComponents {
  tasks: TaskTable;
  /** Read at each use: the docker executor joins once the agent has started. */
  executors: ReadonlyMap<string, Executor>;
  checkpoint: Pick<Checkpoint, "addTask" | "setKillRequested">;
  pressure: Pick<DiskPressure, "active" | "reason" | "tryWrite">;
  health: Pick<HealthChecker, "watch" | "unwatch" | "forget">;
  /** For a kill of a task the agent does not know: not in the task table, so not `report`. */
  updates: Pick<StatusUpdates, "emit">;
  /** Created when the agent starts; undefined before. */
  fetcher: () => ArtifactFetcher | undefined;
  report: ReportTask;
  agentId: () => string | undefined;
  logger: Logger;
}

export interface TaskLauncherInit {
  /** The kill grace of a task that names none (default 5000). */
  killGraceMs?: number;
}

export class TaskLauncher {
  private readonly log: Logger;
  /** Tasks being killed because the master no longer knows this agent: no update for them. */
  private readonly forgetting = new Set<string>();

  constructor(
    private readonly c: TaskLauncherComponents,
    private readonly init: TaskLauncherInit = {},
  ) {
    this.log = c.logger;
  }

  /** Launches a task; whatever happens, the task ends up with a status update. */
  run(rt: RunTask): void {
    this.launch(rt).catch((err) => this.launchBroke(rt, err));
  }

  private async launch(rt: RunTask): Promise<void> {
    const info = rt.task;
    // Both parts of the task's name must be safe in a path, a cgroup and a container name.
    if (!info || !TASK_ID_PATTERN.test(info.taskId) || !TASK_ID_PATTERN.test(rt.frameworkId)) {
      this.log.warn("run_task without a valid task, ignored", {
        task: info?.taskId,
        framework: rt.frameworkId,
      });
      return;
    }
    const existing = findTask(this.c.tasks, rt.frameworkId, info.taskId);
    if (existing && !isTerminal(existing.state)) {
      this.log.warn("run_task for a task already here, ignored", {
        task: info.taskId,
        framework: rt.frameworkId,
      });
      return;
    }
    const executorName = info.executor || "process";
    const t: AgentTask = {
      name: taskName(rt.frameworkId, info.taskId),
      taskId: info.taskId,
      frameworkId: rt.frameworkId,
      info,
      executor: executorName,
      state: TaskState.TASK_STAGING,
      killRequested: false,
    };
    this.c.tasks.set(t.name, t);
    // The task enters the checkpoint with its first update, in one write. A process task is
    // written before it is spawned; a docker task while its create request is with the engine
    // (an agent killed before that write leaves a container no checkpoint names, which the
    // orphan sweep removes, and the master, not hearing of the task, declares it lost).
    let recorded = false;
    const firstWrite = (): CheckpointedTask | undefined => {
      if (recorded) return undefined;
      recorded = true;
      return { ...t };
    };
    const { pressure, report } = this.c;
    if (pressure.active) {
      report(
        t.name,
        {
          state: TaskState.TASK_FAILED,
          reason: Reason.DISK_PRESSURE,
          message: `the agent is under disk pressure and takes no launches: ${pressure.reason()}`,
        },
        undefined,
        { task: firstWrite() },
      );
      return;
    }
    const ex = this.c.executors.get(executorName);
    if (!ex) {
      report(
        t.name,
        {
          state: TaskState.TASK_FAILED,
          reason: Reason.LAUNCH_FAILED,
          message: `executor "${executorName}" is not available on this agent (it has: ${[...this.c.executors.keys()].join(", ")})`,
        },
        undefined,
        { task: firstWrite() },
      );
      return;
    }
    const whileCreating = ex.checkpointAt === "while-creating";
    // A container may take a while to create (and its image to arrive): say so.
    const starting = () =>
      report(t.name, { state: TaskState.TASK_STARTING, reason: "", message: "" }, undefined, {
        task: firstWrite(),
      });
    if (!whileCreating) {
      const first = firstWrite()!;
      if (!pressure.tryWrite("task launch", () => this.c.checkpoint.addTask(first))) {
        report(
          t.name,
          {
            state: TaskState.TASK_FAILED,
            reason: Reason.DISK_PRESSURE,
            message: `the agent cannot record the task: ${pressure.reason()}`,
          },
          undefined,
          { task: first },
        );
        return;
      }
    } else if (rt.artifact?.release) starting();
    if (rt.artifact?.release) {
      // The task's release must be in the cache, verified, and installed before it starts.
      const release = rt.artifact.release;
      const fetcher = this.c.fetcher();
      fetcher?.pin(release, t.name);
      try {
        if (!fetcher) throw new Error("the agent has no artifact fetcher");
        await fetcher.prepare(rt.artifact, ex.releaseDir(t.name));
      } catch (err) {
        fetcher?.unpin(release, t.name);
        report(t.name, {
          state: TaskState.TASK_FAILED,
          reason: err instanceof InsufficientSpaceError ? Reason.INSUFFICIENT_DISK : Reason.FETCH_FAILED,
          message: `release ${release} could not be fetched, verified and installed: ${errorMessage(err)}`,
        });
        return;
      }
    }
    try {
      const req: LaunchRequest = {
        name: t.name,
        taskId: t.taskId,
        frameworkId: t.frameworkId,
        agentId: this.c.agentId() ?? "",
        info,
        user: rt.user,
        onCreating: whileCreating && !recorded ? starting : undefined,
      };
      const state = await ex.launch(req);
      // Checks start with RUNNING, whose update carries the first verdict (unknown).
      if (!t.killRequested) this.watchHealth(t, Date.now());
      // The executor's state (pid, container id) and RUNNING: durable together, one write.
      report(t.name, { state: TaskState.TASK_RUNNING, reason: "", message: "" }, undefined, {
        task: firstWrite(),
        executorState: state,
      });
      if (t.killRequested) this.killInBackground(t);
    } catch (err) {
      report(
        t.name,
        {
          state: TaskState.TASK_FAILED,
          reason: Reason.LAUNCH_FAILED,
          message: err instanceof LaunchError ? err.message : errorMessage(err),
        },
        undefined,
        { task: firstWrite() },
      );
    }
  }

  /**
   * A launch threw past its own error handling: the task must still end with a terminal
   * status, never stay STAGING.
   */
  private launchBroke(rt: RunTask, err: unknown): void {
    this.log.error("launch failed", { task: rt.task?.taskId, err });
    const t = rt.task ? findTask(this.c.tasks, rt.frameworkId, rt.task.taskId) : undefined;
    if (!t || isTerminal(t.state) || this.c.executors.get(t.executor)?.isRunning(t.name)) return;
    try {
      this.c.report(t.name, {
        state: TaskState.TASK_FAILED,
        reason: Reason.LAUNCH_FAILED,
        message: `the agent could not launch the task: ${errorMessage(err)}`,
      });
    } catch (again) {
      this.log.error("cannot report a failed launch", { task: t.taskId, err: again });
    }
  }

  /** A kill from the master: an unknown task is reported lost, a live one is stopped. */
  kill(k: KillTask): void {
    const t = findTask(this.c.tasks, k.frameworkId, k.taskId);
    if (!t) {
      this.log.info("kill for an unknown task", { task: k.taskId, framework: k.frameworkId });
      this.c.updates.emit(this.c.agentId() ?? "", {
        taskId: k.taskId,
        frameworkId: k.frameworkId,
        state: TaskState.TASK_LOST,
        reason: Reason.TASK_UNKNOWN,
        message: "the agent does not know this task",
      });
      return;
    }
    if (isTerminal(t.state)) return; // its terminal update is on its way
    const graceMs = k.graceSeconds > 0 ? k.graceSeconds * 1000 : undefined;
    this.killRunning(t, graceMs).catch((err) => this.log.error("kill failed", { err }));
  }

  /** Kills a task, its failure logged: for callers that do not wait for the kill. */
  killInBackground(t: AgentTask): void {
    this.killRunning(t, undefined).catch((err) => this.log.error("kill failed", { err }));
  }

  /**
   * Records the kill request and stops the task within `graceMs` (default: its own kill
   * grace). A task still launching is killed as soon as its launch returns.
   */
  async killRunning(t: AgentTask, graceMs: number | undefined): Promise<void> {
    if (!t.killRequested) {
      t.killRequested = true;
      // On a full disk the kill goes on; the flag is written when the disk pressure ends.
      this.c.pressure.tryWrite("kill request", () =>
        this.c.checkpoint.setKillRequested(t.frameworkId, t.taskId),
      );
    }
    // A task being stopped is expected to fail its checks: no verdict about it any more.
    this.c.health.unwatch(t.name);
    const ex = this.c.executors.get(t.executor);
    if (!ex?.isRunning(t.name)) return;
    const grace = graceMs ?? this.killGraceOf(t);
    this.log.info("killing task", { task: t.taskId, framework: t.frameworkId, graceMs: grace });
    await ex.kill(t.name, grace);
  }

  killGraceOf(t: AgentTask): number {
    return t.info.killGraceSeconds > 0 ? t.info.killGraceSeconds * 1000 : (this.init.killGraceMs ?? 5000);
  }

  /**
   * The master does not know this agent: kills every live task without a word about it, then
   * empties the task table.
   */
  async forgetAll(): Promise<void> {
    const running = [...this.c.tasks.values()].filter((t) => !isTerminal(t.state));
    for (const t of running) {
      this.forgetting.add(t.name);
      this.c.health.forget(t.name);
    }
    await Promise.all(running.map((t) => this.killRunning(t, undefined)));
    this.c.tasks.clear();
    this.forgetting.clear();
  }

  /** An executor says a task ended (`e.taskId` is the name it was launched under). */
  onEnded(e: TaskEnded): void {
    const release = this.c.tasks.get(e.taskId)?.info.release;
    if (release) this.c.fetcher()?.unpin(release, e.taskId);
    if (this.forgetting.has(e.taskId)) return;
    if (!this.c.tasks.has(e.taskId)) {
      this.log.warn("an unknown task ended", { task: e.taskId });
      return;
    }
    this.c.health.unwatch(e.taskId);
    this.c.report(e.taskId, { state: e.state, reason: e.reason, message: e.message, exitCode: e.exitCode });
    this.c.health.forget(e.taskId);
  }

  /** Starts the task's health checks, when it has one. */
  watchHealth(t: AgentTask, startedAtMs: number, health?: TaskHealth): void {
    const check = t.info.healthCheck;
    if (!check) return;
    this.c.health.watch({
      taskId: t.name,
      check,
      ports: firstPorts(t.info.resources?.ports ?? [], 1000),
      startedAtMs,
      health,
    });
  }
}
