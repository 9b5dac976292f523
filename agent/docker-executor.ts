// The `docker` executor: each task is a container of the host's Docker engine, limited by
// cgroups through its HostConfig (agent/docker/container-spec.ts), labelled with its task,
// framework and agent ids. The engine, not the agent, owns the container: a task outlives an
// agent SIGKILL, and the next agent process re-attaches by the container id it checkpointed
// (state, exit watch, logs). Ends are learnt from the engine's `die` events and read back
// with inspect (exit code, OOMKilled); a finished container is removed once its output is
// in the sandbox files, so a long-lived agent leaks no containers.
//
// A launch costs the agent two checkpoint writes, neither of them in front of the engine:
// the task with its STARTING update is written while the create request is with the engine
// (`onCreating`), the container id with RUNNING once the container runs. An agent killed
// between the two finds the container again by its labels (`findLaunched`).
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type Docker from "dockerode";
import { errorMessage } from "../common/errors.js";
import { createLogger, type Logger } from "../common/logger.js";
import { TaskState } from "../proto/gen/yard/v1/common.js";
import { classifyContainerEnd, type ContainerEndState } from "./docker/container-exit.js";
import {
  type ContainerCgroupFiles,
  containerCgroupFiles,
  readContainerUsage,
} from "./docker/container-cgroup.js";
import { ContainerEvents } from "./docker/container-events.js";
import { execInContainer } from "./docker/container-exec.js";
import {
  buildContainerSpec,
  type ContainerPolicy,
  containerName,
  DEFAULT_PIDS_LIMIT,
  LABEL_AGENT,
  LABEL_FRAMEWORK,
  LABEL_TASK,
} from "./docker/container-spec.js";
import { engineMessage, engineStatus, isEngineDown, withTimeout } from "./docker/docker-engine.js";
import { LogPump } from "./docker/log-pump.js";
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
  type TaskResourceUsage,
} from "./executor.js";
import { TASK_NAME_PATTERN } from "./agent-task.js";
import { sandboxDir } from "./task-env.js";

export interface DockerExecutorInit {
  dataDir: string;
  docker: Docker;
  /** The engine's address, for messages. */
  engine: string;
  /** Host paths tasks may mount (task label yard.docker.volumes); none by default. */
  allowedHostPaths?: readonly string[];
  pidsLimit?: number;
  /** Pull an image that is not on the host; off by default (images come as releases). */
  pullMissing?: boolean;
  /** Limit on each engine call of a launch (create, start) and on a pull. */
  engineTimeoutMs?: number;
  /** How long a finished container's output may take to reach the sandbox files. */
  logDrainMs?: number;
  logger?: Logger;
}

/** What the checkpoint keeps for a docker task. */
interface DockerState {
  containerId: string;
  containerName: string;
  image: string;
  sandbox: string;
  memLimitMiB: number;
}

interface Watched extends DockerState {
  taskId: string;
  container: Docker.Container;
  killRequested: boolean;
  /** The end is being read (inspect, logs, remove). */
  ending: boolean;
  done: boolean;
  /** Resolved when launch has returned: the end is never reported before. */
  ready: Promise<void>;
  pump?: LogPump;
  cgroup?: ContainerCgroupFiles;
  ended: Promise<void>;
  resolveEnded: () => void;
}

export class DockerExecutor implements Executor {
  readonly name = "docker";
  readonly checkpointAt = "while-creating";
  private readonly tasks = new Map<string, Watched>();
  private readonly byContainer = new Map<string, Watched>();
  private readonly logger: Logger;
  private readonly docker: Docker;
  private readonly policy: ContainerPolicy;
  private readonly events: ContainerEvents;
  private readonly engineTimeoutMs: number;
  private stopped = false;

  constructor(
    private readonly components: ExecutorComponents,
    private readonly init: DockerExecutorInit,
  ) {
    this.logger = init.logger ?? createLogger("docker-executor");
    this.docker = init.docker;
    this.engineTimeoutMs = init.engineTimeoutMs ?? 60_000;
    this.policy = {
      allowedHostPaths: (init.allowedHostPaths ?? []).map((p) => path.resolve(p)),
      // At every launch: a symlink planted since the last one is followed too.
      resolveHostPath: (p) => fs.realpathSync.native(p),
      pidsLimit: init.pidsLimit ?? DEFAULT_PIDS_LIMIT,
    };
    this.events = new ContainerEvents({
      docker: this.docker,
      logger: this.logger,
      onDie: (id) => {
        const w = this.byContainer.get(id);
        if (w) this.finishSoon(w);
      },
      onConnected: () => this.recheckAll(),
    });
  }

  async launch(req: LaunchRequest): Promise<ExecutorState> {
    const taskId = executorKey(req);
    if (!TASK_NAME_PATTERN.test(taskId))
      throw new LaunchError(taskId, `task_id "${taskId}" is not a valid task id`);
    const existing = this.tasks.get(taskId);
    if (existing && !existing.done) throw new LaunchError(taskId, `task ${taskId} is already running`);
    const name = containerName(taskId, randomBytes(3).toString("hex"));
    const spec = buildContainerSpec(req, this.policy, name);
    const image = spec.Image!;
    const sandbox = sandboxDir(this.init.dataDir, taskId);
    try {
      fs.mkdirSync(sandbox, { recursive: true });
      for (const f of ["stdout", "stderr"]) fs.closeSync(fs.openSync(path.join(sandbox, f), "a"));
    } catch (err) {
      throw new LaunchError(taskId, `cannot prepare the sandbox ${sandbox}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    await this.events.ensureStarted();
    const creating = this.create(taskId, spec);
    if (req.onCreating) {
      // Handled below; without this a fast rejection during the wait would be unhandled.
      creating.catch(() => undefined);
      // One turn of the event loop puts the request on the engine's socket.
      await new Promise((r) => setImmediate(r));
      try {
        req.onCreating();
      } catch (err) {
        const c = await creating.catch(() => undefined);
        await c?.remove({ force: true }).catch(() => undefined);
        throw err;
      }
    }
    const container = await creating;
    let markReady!: () => void;
    const ready = new Promise<void>((r) => {
      markReady = r;
    });
    const w = this.watch({
      taskId,
      container,
      containerId: container.id,
      containerName: name,
      image,
      sandbox,
      memLimitMiB: req.info.resources?.mem ?? 0,
      killRequested: false,
      ready,
    });
    try {
      await withTimeout(
        container.start(),
        this.engineTimeoutMs,
        "the Docker engine did not start the container",
      );
    } catch (err) {
      this.forget(w);
      await container.remove({ force: true }).catch(() => undefined);
      markReady();
      throw new LaunchError(taskId, this.engineError(`cannot start the container of image "${image}"`, err), {
        cause: err,
      });
    }
    w.pump = new LogPump(container, sandbox, this.logger, taskId);
    this.locateCgroup(w).catch((err) =>
      this.logger.warn("cannot locate the container's cgroup", { task: taskId, err }),
    );
    this.logger.info("task launched", { task: taskId, container: name, image });
    markReady();
    return toState(w);
  }

  async recover(req: RecoverRequest): Promise<void> {
    const s = req.state as Partial<DockerState>;
    if (typeof s.containerId !== "string" || typeof s.sandbox !== "string") {
      throw new Error(`task ${req.taskId}: checkpointed docker state is malformed`);
    }
    await this.events.ensureStarted();
    const container = this.docker.getContainer(s.containerId);
    let info: Docker.ContainerInspectInfo | undefined;
    try {
      info = await withTimeout(container.inspect(), this.engineTimeoutMs, "the Docker engine did not answer");
    } catch (err) {
      if (engineStatus(err) !== 404) throw new Error(this.engineError("cannot inspect the container", err));
    }
    const w = this.watch({
      taskId: executorKey(req),
      container,
      containerId: s.containerId,
      containerName: s.containerName ?? "",
      image: s.image ?? "",
      sandbox: s.sandbox,
      memLimitMiB: s.memLimitMiB ?? 0,
      killRequested: req.killRequested,
      ready: Promise.resolve(),
    });
    if (!info) {
      this.finishSoon(w);
      return;
    }
    w.pump = new LogPump(container, s.sandbox, this.logger, executorKey(req));
    if (info.State.Running) {
      w.cgroup = containerCgroupFiles(info.State.Pid);
      this.logger.info("re-attached to running container", { task: req.taskId, container: w.containerName });
    } else {
      this.finishSoon(w);
    }
  }

  /**
   * For a task checkpointed without a container id (the agent stopped mid-launch): the state
   * of the container that launch made, found by its `yard.task` and `yard.agent` labels, to
   * pass to `recover`. Undefined when the launch never got a container started; a container
   * created but never started is removed then (the task is reported as failed to launch).
   */
  async findLaunched(req: LaunchRequest): Promise<ExecutorState | undefined> {
    if (!req.agentId) return undefined;
    const list = await withTimeout(
      this.docker.listContainers({
        all: true,
        filters: {
          label: [
            `${LABEL_TASK}=${req.taskId}`,
            `${LABEL_FRAMEWORK}=${req.frameworkId}`,
            `${LABEL_AGENT}=${req.agentId}`,
          ],
        },
      }),
      this.engineTimeoutMs,
      "the Docker engine did not list containers",
    );
    let found: Docker.ContainerInfo | undefined;
    for (const c of list) {
      if (c.State === "created") {
        await this.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch((err) => {
            if (engineStatus(err) !== 404) throw err;
          });
      } else if (!found || c.Created > found.Created) {
        found = c;
      }
    }
    if (!found) return undefined;
    const state: DockerState = {
      containerId: found.Id,
      containerName: found.Names[0]?.replace(/^\//, "") ?? found.Id,
      image: found.Image,
      sandbox: sandboxDir(this.init.dataDir, executorKey(req)),
      memLimitMiB: req.info.resources?.mem ?? 0,
    };
    this.logger.info("found the container of a task launched before the restart", {
      task: req.taskId,
      container: state.containerName,
    });
    return { ...state };
  }

  async kill(taskId: string, graceMs: number): Promise<void> {
    const w = this.tasks.get(taskId);
    if (!w || w.done) return;
    w.killRequested = true;
    await w.ready;
    if (w.done) return;
    // docker stop: the image's stop signal (SIGTERM), SIGKILL after t seconds.
    const t = Math.max(0, Math.ceil(graceMs / 1000));
    try {
      await w.container.stop({ t });
    } catch (err) {
      const status = engineStatus(err);
      if (status === 404) this.finishSoon(w);
      else if (status !== 304) {
        this.logger.warn("docker stop failed", { task: taskId, error: this.engineError("stop", err) });
      }
    }
    // The die event may be lost if the engine stream is down; inspect confirms the end.
    this.finishSoon(w);
    await w.ended;
  }

  isRunning(taskId: string): boolean {
    const w = this.tasks.get(taskId);
    return w !== undefined && !w.done;
  }

  usage(taskId: string): TaskResourceUsage | undefined {
    const w = this.tasks.get(taskId);
    if (!w || w.done || !w.cgroup) return undefined;
    return readContainerUsage(w.cgroup);
  }

  async exec(taskId: string, command: string, timeoutMs: number): Promise<ExecResult> {
    const w = this.tasks.get(taskId);
    if (!w || w.done) throw new Error(`task ${taskId} is not running`);
    return execInContainer(this.docker, w.container, command, timeoutMs);
  }

  logPath(taskId: string, stream: LogStream): string {
    return path.join(sandboxDir(this.init.dataDir, taskId), stream);
  }

  /** A docker release is an image, loaded into the engine when it is fetched. */
  releaseDir(): undefined {
    return undefined;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.events.stop();
    for (const w of this.tasks.values()) w.pump?.stop();
    await Promise.all([...this.tasks.values()].map((w) => w.pump?.done));
  }

  /**
   * Stops and removes the containers labelled with this agent's id that hold no task the
   * agent watches: tasks its checkpoint no longer has (the master forgot them, or the agent
   * died between creating a container and checkpointing it). Call after every recover.
   * Resolves the names removed.
   */
  async removeOrphans(agentId: string): Promise<string[]> {
    if (!agentId) return [];
    const list = await withTimeout(
      this.docker.listContainers({ all: true, filters: { label: [`${LABEL_AGENT}=${agentId}`] } }),
      this.engineTimeoutMs,
      "the Docker engine did not list containers",
    );
    const removed: string[] = [];
    for (const c of list) {
      const w = this.byContainer.get(c.Id);
      if (w && !w.done) continue;
      const name = c.Names[0]?.replace(/^\//, "") ?? c.Id;
      try {
        await this.docker.getContainer(c.Id).remove({ force: true });
        removed.push(name);
        this.logger.info("removed a container of a task the agent no longer runs", {
          container: name,
          task: c.Labels[LABEL_TASK],
        });
      } catch (err) {
        if (engineStatus(err) !== 404) {
          this.logger.warn("cannot remove an orphan container", {
            container: name,
            error: engineMessage(err),
          });
        }
      }
    }
    return removed;
  }

  private async create(taskId: string, spec: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    const image = spec.Image!;
    const attempt = () =>
      withTimeout(
        this.docker.createContainer(spec),
        this.engineTimeoutMs,
        "the Docker engine did not create the container",
      );
    try {
      return await attempt();
    } catch (err) {
      if (engineStatus(err) === 404 && /no such image/i.test(engineMessage(err))) {
        if (!this.init.pullMissing) {
          throw new LaunchError(
            taskId,
            `image "${image}" is not on this agent (pulling is off): ${engineMessage(err)}; load it with "docker load" or deploy it as a release`,
            { cause: err },
          );
        }
        await this.pull(taskId, image);
        try {
          return await attempt();
        } catch (again) {
          throw new LaunchError(
            taskId,
            this.engineError(`cannot create a container of image "${image}"`, again),
            {
              cause: again,
            },
          );
        }
      }
      throw new LaunchError(taskId, this.engineError(`cannot create a container of image "${image}"`, err), {
        cause: err,
      });
    }
  }

  private async pull(taskId: string, image: string): Promise<void> {
    this.logger.info("pulling image", { task: taskId, image });
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          this.docker.pull(image, {}, (err: unknown, stream: NodeJS.ReadableStream | undefined) => {
            if (err || !stream) {
              reject(err ?? new Error("no pull stream"));
              return;
            }
            this.docker.modem.followProgress(stream, (done: unknown) => (done ? reject(done) : resolve()));
          });
        }),
        this.engineTimeoutMs,
        "the image pull did not finish",
      );
    } catch (err) {
      throw new LaunchError(
        taskId,
        this.engineError(`image "${image}" is not on this agent and its pull failed`, err),
        {
          cause: err,
        },
      );
    }
  }

  private engineError(what: string, err: unknown): string {
    if (isEngineDown(err))
      return `${what}: the Docker engine at ${this.init.engine} is not reachable (${engineMessage(err)})`;
    return `${what}: ${engineMessage(err)}`;
  }

  private async locateCgroup(w: Watched): Promise<void> {
    const info = await withTimeout(
      w.container.inspect(),
      this.engineTimeoutMs,
      "the Docker engine did not answer",
    );
    if (info.State.Running && info.State.Pid > 0) w.cgroup = containerCgroupFiles(info.State.Pid);
  }

  /** After the events stream (re)connects: any watched container that is no longer running ended. */
  private recheckAll(): void {
    for (const w of this.tasks.values()) {
      if (w.done || w.ending) continue;
      w.ready
        .then(() => w.container.inspect())
        .then((info) => {
          if (!info.State.Running) this.finishSoon(w);
        })
        .catch((err) => {
          if (engineStatus(err) === 404) this.finishSoon(w);
        });
    }
  }

  private watch(fields: Omit<Watched, "done" | "ending" | "ended" | "resolveEnded">): Watched {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((r) => {
      resolveEnded = r;
    });
    const w: Watched = { ...fields, done: false, ending: false, ended, resolveEnded };
    this.tasks.set(w.taskId, w);
    this.byContainer.set(w.containerId, w);
    return w;
  }

  private forget(w: Watched): void {
    if (this.tasks.get(w.taskId) === w) this.tasks.delete(w.taskId);
    this.byContainer.delete(w.containerId);
  }

  private finishSoon(w: Watched): void {
    if (w.done || w.ending || this.stopped) return;
    w.ending = true;
    this.finish(w).catch((err) => {
      // The engine could not tell how the container ended: the next (re)connection of the
      // events stream looks again.
      w.ending = false;
      this.logger.warn("cannot read the end of a container yet", {
        task: w.taskId,
        err,
      });
    });
  }

  private async finish(w: Watched): Promise<void> {
    await w.ready;
    // Past the launch's own continuation: the RUNNING update always precedes the end.
    await new Promise((r) => setImmediate(r));
    let state: (ContainerEndState & { Running?: boolean }) | undefined;
    try {
      state = (
        await withTimeout(w.container.inspect(), this.engineTimeoutMs, "the Docker engine did not answer")
      ).State;
    } catch (err) {
      if (engineStatus(err) !== 404) throw err;
    }
    if (state?.Running) {
      w.ending = false;
      return;
    }
    if (w.pump) {
      const drained = await Promise.race([
        w.pump.done.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), this.init.logDrainMs ?? 10_000).unref()),
      ]);
      if (!drained) {
        this.logger.warn("the container's output did not drain in time", { task: w.taskId });
        w.pump.stop();
      }
    }
    if (state) {
      await w.container.remove({ force: true, v: true }).catch((err) => {
        if (engineStatus(err) !== 404) {
          this.logger.warn("cannot remove a finished container", {
            task: w.taskId,
            error: engineMessage(err),
          });
        }
      });
    }
    const ended = classifyContainerEnd(w, state);
    w.done = true;
    w.ending = false;
    this.byContainer.delete(w.containerId);
    this.logger.info("task ended", {
      task: w.taskId,
      state: TaskState[ended.state],
      exitCode: ended.exitCode,
    });
    w.resolveEnded();
    if (!this.stopped) this.components.onEnded(ended);
  }
}

function toState(w: Watched): ExecutorState {
  const s: DockerState = {
    containerId: w.containerId,
    containerName: w.containerName,
    image: w.image,
    sandbox: w.sandbox,
    memLimitMiB: w.memLimitMiB,
  };
  return { ...s };
}
