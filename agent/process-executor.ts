// The `process` executor: each task is a detached process group started through a small
// /bin/sh wrapper in its sandbox, as the task's user (task-user.ts) with no supplementary
// groups. The agent moves the wrapper into the task's cgroups (a task user could not) and
// only then lets it go on; the wrapper runs the command and writes the command's exit code
// to `.yard/exit_status` (tmp + rename). stdout and stderr are
// files opened for the child, not pipes. So a task outlives an agent SIGKILL, and the next
// agent process re-attaches by pid + start time and still learns how the task ended.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createLogger, type Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { firstPorts } from "../common/resources.js";
import { TaskState } from "../proto/gen/yard/v1/common.js";
import type { CgroupManager, TaskCgroups } from "./cgroups.js";
import {
  type ExecResult,
  type Executor,
  type ExecutorComponents,
  type ExecutorState,
  executorKey,
  LaunchError,
  type LaunchRequest,
  type LogStream,
  type RecoverRequest,
  type TaskEnded,
  type TaskResourceUsage,
} from "./executor.js";
import { giveSandboxTo, openForAppendNoFollow, readTaskFile } from "./file-access.js";
import { TASK_NAME_PATTERN } from "./agent-task.js";
import { isSameProcessAlive, processGroupUsage, processStartTime, signalGroup } from "./proc-stat.js";
import { execInSandbox, joinCgroups, releaseWrapper, WAIT_FOR_AGENT } from "./sandbox-exec.js";
import { buildTaskEnv, sandboxDir, shellQuote } from "./task-env.js";
import type { TaskUser, TaskUsers } from "./task-user.js";

export interface ProcessExecutorInit {
  dataDir: string;
  cgroups: CgroupManager;
  /** Who tasks run as; without it they run as the agent (tests of the executor alone). */
  users?: Pick<TaskUsers, "resolve">;
  logger?: Logger;
  /** How often a re-attached task (no longer our child) is checked for liveness. */
  pollMs?: number;
}

/** What the checkpoint keeps for a process task. */
interface ProcessState {
  pid: number;
  startTime: number;
  sandbox: string;
  memLimitMiB: number;
  cgroups?: TaskCgroups;
  /** The task's user, when it is not the agent's: commands run beside the task get it too. */
  uid?: number;
  gid?: number;
}

interface Watched extends ProcessState {
  taskId: string;
  /** The task's environment, which commands run inside the task (exec) get too. */
  env: Record<string, string>;
  killRequested: boolean;
  /** False for a re-attached task whose pid no longer names its process. */
  processVerified: boolean;
  done: boolean;
  child?: ChildProcess;
  poll?: NodeJS.Timeout;
  killTimer?: NodeJS.Timeout;
  ended: Promise<void>;
  resolveEnded: () => void;
}

const META_DIR = ".yard";
/** Signals whose default action the wrapper overrides with a no-op handler, so that it
 * survives a SIGTERM to the group long enough to record the command's exit code. */
const WRAPPER_TRAPS = "TERM INT HUP";
/** How often a kill that came before the command started looks for it. */
const TERM_RECHECK_MS = 20;

export class ProcessExecutor implements Executor {
  readonly name = "process";
  readonly checkpointAt = "before-launch";
  private readonly tasks = new Map<string, Watched>();
  private readonly logger: Logger;
  private readonly pollMs: number;
  private stopped = false;

  constructor(
    private readonly components: ExecutorComponents,
    private readonly init: ProcessExecutorInit,
  ) {
    this.logger = init.logger ?? createLogger("process-executor");
    this.pollMs = init.pollMs ?? 500;
  }

  async launch(req: LaunchRequest): Promise<ExecutorState> {
    const { info } = req;
    const taskId = executorKey(req);
    if (!TASK_NAME_PATTERN.test(taskId))
      throw new LaunchError(taskId, `task_id "${taskId}" is not a valid task id`);
    const existing = this.tasks.get(taskId);
    if (existing && !existing.done) throw new LaunchError(taskId, `task ${taskId} is already running`);
    const command = info.command;
    if (!command || command.value.trim() === "") {
      throw new LaunchError(taskId, "task.command.value: the command is empty");
    }
    let user: TaskUser | undefined;
    try {
      user = await this.init.users?.resolve(req.user ?? "");
    } catch (err) {
      throw new LaunchError(taskId, (err as Error).message, { cause: err });
    }
    const sandbox = sandboxDir(this.init.dataDir, taskId);
    const meta = path.join(sandbox, META_DIR);
    let cgroups: TaskCgroups | undefined;
    let outFd: number | undefined;
    let errFd: number | undefined;
    try {
      fs.mkdirSync(sandbox, { recursive: true });
      // Made afresh: what a former run of this task left there (links included) is not reused.
      fs.rmSync(meta, { recursive: true, force: true });
      fs.mkdirSync(meta);
      const resources = info.resources;
      cgroups = this.init.cgroups.create(req.agentId, taskId, {
        cpus: resources?.cpus ?? 0,
        mem: resources?.mem ?? 0,
      });
      fs.writeFileSync(
        path.join(meta, "run.sh"),
        wrapperScript(commandLine(command.value, command.arguments, command.shell)),
        { mode: 0o755, flag: "wx" },
      );
      outFd = openForAppendNoFollow(path.join(sandbox, "stdout"));
      errFd = openForAppendNoFollow(path.join(sandbox, "stderr"));
      if (user) giveSandboxTo(sandbox, user.uid, user.gid);
      const ports = firstPorts(resources?.ports ?? [], 1000);
      const env = buildTaskEnv({ ...req, sandbox, ports });
      // Relative paths: the shell starts in the sandbox (entered before the user switch), so
      // the task needs no way through the directories above it.
      const child = spawn("/bin/sh", [`${META_DIR}/run.sh`], {
        cwd: sandbox,
        env,
        detached: true,
        stdio: ["pipe", outFd, errFd],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      });
      if (child.pid === undefined) {
        const err = await new Promise<Error>((resolve) => child.once("error", resolve));
        throw new Error(`cannot start /bin/sh: ${err.message}`);
      }
      // Read now: until node reaps it the child is at least a zombie, so the entry exists.
      const startTime = processStartTime(child.pid) ?? 0;
      try {
        joinCgroups(child.pid, cgroups?.dirs ?? []);
      } catch (err) {
        signalGroup(child.pid, "SIGKILL");
        throw err;
      }
      releaseWrapper(child);
      child.unref();
      const w = this.watch({
        taskId,
        env,
        pid: child.pid,
        startTime,
        sandbox,
        memLimitMiB: resources?.mem ?? 0,
        cgroups,
        uid: user?.uid,
        gid: user?.gid,
        killRequested: false,
        processVerified: true,
        child,
      });
      child.on("exit", (code, signal) => {
        const fallback = code ?? (signal ? 128 + signalNumber(signal) : undefined);
        this.finishSoon(w, fallback);
      });
      this.logger.info("task launched", {
        task: taskId,
        pid: child.pid,
        user: user?.name,
        cgroups: cgroups ? "yes" : "no",
      });
      return toState(w);
    } catch (err) {
      if (cgroups) await this.init.cgroups.destroy(cgroups).catch(() => undefined);
      throw new LaunchError(taskId, `cannot launch task ${taskId}: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      if (outFd !== undefined) fs.closeSync(outFd);
      if (errFd !== undefined) fs.closeSync(errFd);
    }
  }

  async recover(req: RecoverRequest): Promise<void> {
    const s = req.state as unknown as ProcessState;
    if (typeof s.pid !== "number" || typeof s.startTime !== "number" || typeof s.sandbox !== "string") {
      throw new Error(`task ${req.taskId}: checkpointed process state is malformed`);
    }
    const alive = isSameProcessAlive(s.pid, s.startTime);
    const ports = firstPorts(req.info.resources?.ports ?? [], 1000);
    const w = this.watch({
      taskId: executorKey(req),
      env: buildTaskEnv({ ...req, sandbox: s.sandbox, ports }),
      pid: s.pid,
      startTime: s.startTime,
      sandbox: s.sandbox,
      memLimitMiB: s.memLimitMiB ?? 0,
      cgroups: s.cgroups,
      uid: s.uid,
      gid: s.gid,
      killRequested: req.killRequested,
      processVerified: alive,
    });
    if (!alive) {
      this.finishSoon(w, undefined);
      return;
    }
    this.logger.info("re-attached to running task", { task: req.taskId, pid: s.pid });
    w.poll = setInterval(() => {
      if (!isSameProcessAlive(w.pid, w.startTime)) this.finishSoon(w, undefined);
    }, this.pollMs);
    w.poll.unref();
  }

  kill(taskId: string, graceMs: number): Promise<void> {
    const w = this.tasks.get(taskId);
    if (!w || w.done) return Promise.resolve();
    w.killRequested = true;
    if (w.processVerified) {
      // From its trap until the command's exec, a SIGTERM lands in the wrapper's no-op
      // handler (in the wrapper, or in its fork before the exec) and is lost. The command's
      // first exec leaves a marker; asked before the signal, a missing marker means the
      // signal is sent again once it appears.
      const commandStarted = commandHasStarted(w.sandbox);
      signalGroup(w.pid, "SIGTERM");
      if (!commandStarted) this.termOnceStarted(w);
      if (w.killTimer === undefined) {
        w.killTimer = setTimeout(() => {
          this.logger.info("grace period over, sending SIGKILL", { task: taskId });
          signalGroup(w.pid, "SIGKILL");
        }, graceMs);
      }
    }
    return w.ended;
  }

  private termOnceStarted(w: Watched): void {
    const check = setInterval(() => {
      if (w.done) return clearInterval(check);
      if (!commandHasStarted(w.sandbox)) return;
      clearInterval(check);
      signalGroup(w.pid, "SIGTERM");
    }, TERM_RECHECK_MS);
    check.unref();
  }

  isRunning(taskId: string): boolean {
    const w = this.tasks.get(taskId);
    return w !== undefined && !w.done;
  }

  usage(taskId: string): TaskResourceUsage | undefined {
    const w = this.tasks.get(taskId);
    if (!w || w.done) return undefined;
    if (w.cgroups) return this.init.cgroups.usage(w.cgroups);
    return processGroupUsage(w.pid);
  }

  exec(taskId: string, command: string, timeoutMs: number): Promise<ExecResult> {
    const w = this.tasks.get(taskId);
    if (!w || w.done) return Promise.reject(new Error(`task ${taskId} is not running`));
    return execInSandbox({
      command,
      cwd: w.sandbox,
      env: w.env,
      cgroupDirs: w.cgroups?.dirs ?? [],
      uid: w.uid,
      gid: w.gid,
      timeoutMs,
    });
  }

  logPath(taskId: string, stream: LogStream): string {
    return path.join(sandboxDir(this.init.dataDir, taskId), stream);
  }

  /** The release is unpacked into the task's sandbox, its working directory. */
  releaseDir(taskId: string): string {
    return sandboxDir(this.init.dataDir, taskId);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.tasks.values()) {
      if (w.poll) clearInterval(w.poll);
      if (w.killTimer) clearTimeout(w.killTimer);
      w.child?.removeAllListeners("exit");
    }
  }

  private watch(fields: Omit<Watched, "done" | "ended" | "resolveEnded">): Watched {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => {
      resolveEnded = r;
    });
    const w: Watched = { ...fields, done: false, ended, resolveEnded };
    this.tasks.set(w.taskId, w);
    return w;
  }

  private finishSoon(w: Watched, fallbackExitCode: number | undefined): void {
    if (w.done || this.stopped) return;
    w.done = true;
    if (w.poll) clearInterval(w.poll);
    if (w.killTimer) clearTimeout(w.killTimer);
    this.finish(w, fallbackExitCode).catch((err) =>
      this.logger.error("could not finish task", { task: w.taskId, err }),
    );
  }

  private async finish(w: Watched, fallbackExitCode: number | undefined): Promise<void> {
    const meta = path.join(w.sandbox, META_DIR);
    const recorded = readExitStatus(path.join(meta, "exit_status"));
    const exitCode = recorded ?? fallbackExitCode;
    // Written by the wrappers of earlier versions, which joined the cgroups themselves.
    const launchError = readText(path.join(meta, "launch_error"));
    const oom = w.cgroups ? this.init.cgroups.wasOomKilled(w.cgroups, exitCode) : false;
    // Whatever the command left behind in its group or cgroup goes with it.
    if (w.processVerified) signalGroup(w.pid, "SIGKILL");
    if (w.cgroups) await this.init.cgroups.destroy(w.cgroups);
    const ended = classify(w, { exitCode, launchError, oom });
    this.logger.info("task ended", {
      task: w.taskId,
      state: TaskState[ended.state],
      exitCode: ended.exitCode,
    });
    w.resolveEnded();
    if (!this.stopped) this.components.onEnded(ended);
  }
}

function classify(
  w: Watched,
  r: { exitCode: number | undefined; launchError: string | undefined; oom: boolean },
): TaskEnded {
  const base = { taskId: w.taskId, exitCode: r.exitCode };
  if (w.killRequested) {
    return {
      ...base,
      state: TaskState.TASK_KILLED,
      reason: Reason.KILL_REQUESTED,
      message: "killed on request",
    };
  }
  if (r.launchError) {
    return { ...base, state: TaskState.TASK_FAILED, reason: Reason.LAUNCH_FAILED, message: r.launchError };
  }
  if (r.oom) {
    return {
      ...base,
      state: TaskState.TASK_FAILED,
      reason: Reason.MEMORY_LIMIT,
      message: `task exceeded its memory limit of ${w.memLimitMiB} MiB and was OOM-killed`,
    };
  }
  if (r.exitCode === undefined) {
    return {
      taskId: w.taskId,
      state: TaskState.TASK_FAILED,
      reason: Reason.EXIT_STATUS_UNKNOWN,
      message: "the task's process ended while the agent was away and left no exit status",
    };
  }
  const message =
    r.exitCode > 128
      ? `exited with code ${r.exitCode} (signal ${r.exitCode - 128})`
      : `exited with code ${r.exitCode}`;
  return {
    ...base,
    state: r.exitCode === 0 ? TaskState.TASK_FINISHED : TaskState.TASK_FAILED,
    reason: Reason.COMMAND_EXITED,
    message,
  };
}

function toState(w: Watched): ExecutorState {
  const s: ProcessState = {
    pid: w.pid,
    startTime: w.startTime,
    sandbox: w.sandbox,
    memLimitMiB: w.memLimitMiB,
    cgroups: w.cgroups,
    uid: w.uid,
    gid: w.gid,
  };
  return s as unknown as ExecutorState;
}

/** The command as a line of the wrapper script, every word single-quoted. */
function commandLine(value: string, args: readonly string[], shell: boolean): string {
  if (shell) return `/bin/sh -c ${shellQuote(value)}`;
  return [value, ...args].map(shellQuote).join(" ");
}

/** Written by the command's first exec, from when a signal to the group reaches it. */
const STARTED_MARKER = `${META_DIR}/started`;

function commandHasStarted(sandbox: string): boolean {
  try {
    fs.lstatSync(path.join(sandbox, STARTED_MARKER));
    return true;
  } catch {
    return false;
  }
}

function wrapperScript(command: string): string {
  return `#!/bin/sh
# Written by the Yard agent. Waits until the agent has put it into the task's cgroups, runs
# the command, records its exit code where an agent that restarted meanwhile can find it.
# The command's first exec leaves a marker: from then on a SIGTERM to the group reaches it.
# Paths are relative to the sandbox, where the wrapper starts and stays.
${WAIT_FOR_AGENT}
trap 'true' ${WRAPPER_TRAPS}
/bin/sh -c ': > ${STARTED_MARKER} 2>/dev/null; exec "$@"' yard-task ${command}
code=$?
echo "$code" > ${META_DIR}/exit_status.tmp && mv ${META_DIR}/exit_status.tmp ${META_DIR}/exit_status
exit "$code"
`;
}

function readExitStatus(file: string): number | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isInteger(n) ? n : undefined;
}

/** A file of the sandbox, which the task may have replaced with a link: not followed. */
function readText(file: string): string | undefined {
  const t = readTaskFile(file)?.trim();
  return t === "" ? undefined : t;
}

function signalNumber(signal: NodeJS.Signals): number {
  return os.constants.signals[signal] ?? 0;
}
