// The agent daemon: runs tasks for the master, reports their states reliably and survives
// its own restarts. It wires the checkpoint, the executors, the master connection, status
// updates, usage reports and log streaming; the protocol is docs/protocol.md "Agent ↔ master".
import fs from "node:fs";
import os from "node:os";
import { errorMessage, InvalidArgumentError } from "../common/errors.js";
import { TASK_ID_PATTERN } from "../common/ids.js";
import { createLogger, type Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { isTerminal } from "../common/task-states.js";
import type {
  FetchArtifact,
  KillTask,
  MasterMessage,
  Refused,
  Register,
  RunTask,
} from "../proto/gen/yard/v1/agent.js";
import {
  type Attribute,
  HealthState,
  type Range,
  type TaskHealth,
  type TaskInfo,
  TaskState,
} from "../proto/gen/yard/v1/common.js";
import { firstPorts } from "../common/resources.js";
import { CgroupManager, detectCgroups } from "./cgroups.js";
import { DEFAULT_SHUTDOWN_GRACE_MS, stopStep } from "../common/shutdown.js";
import { DockerExecutor } from "./docker-executor.js";
import { connectEngine, engineAddress, pingEngine } from "./docker/docker-engine.js";
import type { Checkpoint, CheckpointedTask, UpdateExtras } from "./checkpoint.js";
import { openCheckpoint } from "./checkpoint-open.js";
import { DiskPressure } from "./disk-pressure.js";
import { ArtifactFetcher, InsufficientSpaceError } from "./fetcher/artifact-fetcher.js";
import {
  type Executor,
  type ExecutorFactory,
  LaunchError,
  type LaunchRequest,
  type TaskEnded,
} from "./executor.js";
import { HealthChecker } from "./health/health-checker.js";
import { LogStreamer } from "./log-streamer.js";
import { MasterConnection } from "./master-connection.js";
import { ProcessExecutor } from "./process-executor.js";
import { detectResources } from "./resources-detect.js";
import { type StatusFields, StatusUpdates } from "./status-updates.js";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions {
  master: string;
  dataDir: string;
  token?: string;
  hostname?: string;
  cpus?: number;
  mem?: number;
  disk?: number;
  ports?: Range[];
  attributes?: Attribute[];
  /**
   * Executors to offer (default `process`). A listed `docker` whose engine does not answer
   * is left out, with a warning: the agent still runs and advertises the others.
   */
  executors?: string[];
  /** With `executors` unset: offer `docker` too when an engine answers (`yardctl up`). */
  dockerIfAvailable?: boolean;
  /** The Docker engine: unix:///path, /path or tcp://host:port (default DOCKER_HOST, then /var/run/docker.sock). */
  dockerSocket?: string;
  /** Host paths docker tasks may mount; none by default. */
  allowedHostPaths?: string[];
  killGraceMs?: number;
  /** Limits on `docker load` (default 10 min) and on unpacking a tar release (default 5 min). */
  dockerLoadTimeoutMs?: number;
  tarTimeoutMs?: number;
  /** How long stop() waits for its parts (connection, fetcher, executors) before it leaves them (default 10 s). */
  shutdownGraceMs?: number;
  /** Release cache (default <dataDir>/cache), its limit in MiB (default unlimited). */
  cacheDir?: string;
  cacheSizeMiB?: number;
  /** BitTorrent rate limits in bytes per second (default unlimited). */
  uploadRate?: number;
  downloadRate?: number;
  /** BitTorrent listen port (default 0: a free one) and address (default all interfaces). */
  peerPort?: number;
  peerHost?: string;
  /**
   * Disk space kept free, in MiB: a fetch must leave it free, and an agent under disk
   * pressure recovers once it is free again (default 5 % of the disk, at most 64 MiB).
   */
  diskReserveMiB?: number;
  /** How often an agent under disk pressure tries to write its checkpoint again (default 2000). */
  diskProbeMs?: number;
  statusRetryMs?: number;
  usageIntervalMs?: number;
  cgroupRoot?: string;
  /**
   * Keeps the checkpoint in memory instead of <dataDir>/agent.db: the same writes, without
   * their fsyncs and files, and nothing survives the agent. For running thousands of agents
   * in one process (the benchmarks); a real agent needs its checkpoint on disk.
   */
  checkpointInMemory?: boolean;
  logger?: Logger;
}

/** What the agent is built with besides its options: the seams a test or benchmark fills. */
export interface AgentComponents {
  /**
   * The executors to offer, by name, in place of those that `executors`, `dockerIfAvailable`
   * and the host would give (the process executor, docker when an engine answers).
   */
  executors?: Readonly<Record<string, ExecutorFactory>>;
}

export interface AgentHandle {
  agentId(): string | undefined;
  /** The executors the agent offers (known once started). */
  executors(): string[];
  /** Stops the agent. By default tasks keep running; with killTasks they are killed first. */
  stop(opts?: { killTasks?: boolean }): Promise<void>;
}

/** What the agent knows of one task, mirrored in the checkpoint. */
interface AgentTask {
  taskId: string;
  frameworkId: string;
  info: TaskInfo;
  executor: string;
  state: TaskState;
  killRequested: boolean;
}

export async function startAgent(opts: AgentOptions, components: AgentComponents = {}): Promise<AgentHandle> {
  const agent = new AgentDaemon(opts, components);
  await agent.start();
  return { agentId: () => agent.id, executors: () => agent.executorNames(), stop: (o) => agent.stop(o) };
}

class AgentDaemon {
  id: string | undefined;
  private readonly log: Logger;
  private readonly checkpoint: Checkpoint;
  private readonly executors = new Map<string, Executor>();
  private readonly tasks = new Map<string, AgentTask>();
  /** Tasks being killed because the master no longer knows this agent: no update for them. */
  private readonly forgetting = new Set<string>();
  private readonly connection: MasterConnection;
  private readonly updates: StatusUpdates;
  private readonly pressure: DiskPressure;
  /** The agent secret, also while the checkpoint cannot take it (disk pressure). */
  private secret: string | undefined;
  private readonly logs: LogStreamer;
  private readonly health: HealthChecker;
  private readonly register: Omit<Register, "agentId" | "tasks">;
  private usageTimer?: NodeJS.Timeout;
  private stopping?: Promise<void>;
  /** When a WRONG_CLUSTER refusal was last logged (one line a minute while it lasts). */
  private wrongClusterLoggedAt = 0;
  /** Created in start(), once the docker engine (for `docker load`) is known. */
  private fetcher?: ArtifactFetcher;

  constructor(
    private readonly opts: AgentOptions,
    private readonly components: AgentComponents = {},
  ) {
    this.log = opts.logger ?? createLogger("agent");
    if (!opts.master) throw new Error("master: an address host:port is required");
    if (!opts.dataDir) throw new Error("dataDir: a directory is required");
    for (const name of [
      "killGraceMs",
      "statusRetryMs",
      "usageIntervalMs",
      "dockerLoadTimeoutMs",
      "tarTimeoutMs",
      "shutdownGraceMs",
      "diskProbeMs",
    ] as const) {
      const v = opts[name];
      if (v !== undefined && (!Number.isFinite(v) || v <= 0)) {
        throw new InvalidArgumentError(name, `${v} is not a positive number of milliseconds`);
      }
    }
    fs.mkdirSync(opts.dataDir, { recursive: true });
    this.checkpoint = openCheckpoint(opts.dataDir, opts.cacheDir ?? `${opts.dataDir}/cache`, this.log, {
      inMemory: opts.checkpointInMemory,
    });
    this.id = this.checkpoint.agentId();
    this.secret = this.checkpoint.agentSecret();
    this.pressure = new DiskPressure({
      dataDir: opts.dataDir,
      reserveMiB: opts.diskReserveMiB,
      probeMs: opts.diskProbeMs,
      logger: this.log,
      flush: () => this.flushToCheckpoint(),
      onChange: (conditions) =>
        this.connection.send({ heartbeat: { timestamp: Date.now() / 1000, conditions } }),
    });

    for (const [name, create] of Object.entries(components.executors ?? {})) {
      this.executors.set(name, create({ onEnded: (e) => this.onEnded(e) }));
    }
    const names = components.executors ? [] : (opts.executors ?? ["process"]);
    for (const name of names) {
      if (name === "docker") continue; // needs the engine's answer: set up in start()
      if (name !== "process") {
        this.log.warn("executor not supported by this agent, ignored", { executor: name });
        continue;
      }
      const support = detectCgroups(opts.cgroupRoot);
      if (support.version === 0) {
        this.log.warn("cgroups unavailable: tasks are isolated by process group only, without limits", {
          reason: support.reason,
        });
      } else {
        this.log.info("cgroups enabled", { version: support.version });
      }
      this.executors.set(
        name,
        new ProcessExecutor(
          { onEnded: (e) => this.onEnded(e) },
          { dataDir: opts.dataDir, cgroups: new CgroupManager(support, this.log), logger: this.log },
        ),
      );
    }

    this.register = {
      info: {
        id: "",
        hostname: opts.hostname ?? os.hostname(),
        resources: detectResources(opts.dataDir, opts),
        attributes: opts.attributes ?? [],
        executors: [...this.executors.keys()],
        version: AGENT_VERSION,
      },
      token: opts.token ?? "",
      clusterId: "",
      artifacts: [],
      agentSecret: "",
    };

    this.connection = new MasterConnection({
      address: opts.master,
      token: opts.token,
      logger: this.log,
      register: () => this.buildRegister(),
      conditions: () => this.pressure.conditions(),
      onRegistered: (r) => {
        if (r.agentId && r.agentId !== this.id) {
          this.id = r.agentId;
          const id = r.agentId;
          this.pressure.tryWrite("agent id", () => this.checkpoint.setAgentId(id));
        }
        // Given on a first registration: what proves this agent id from now on.
        if (r.agentSecret) {
          const secret = r.agentSecret;
          this.secret = secret;
          this.pressure.tryWrite("agent secret", () => this.checkpoint.setAgentSecret(secret));
        }
        // The master refuses agents of other clusters, so a differing id here only comes from
        // a master that had none: the agent keeps its own. One without an id adopts the master's.
        // On a full disk it is adopted at a later registration.
        const clusterId = r.clusterId;
        if (clusterId && !this.checkpoint.clusterId()) {
          this.pressure.tryWrite("cluster id", () => this.checkpoint.setClusterId(clusterId));
        }
        this.updates.resendAll();
      },
      onRefused: (r) => this.onRefused(r),
      onMessage: (m) => this.onMessage(m),
      // Log reads belong to the stream they were asked on: the master forgot them with it.
      onStreamEnded: () => this.logs.cancelAll(),
    });
    this.updates = new StatusUpdates(
      this.checkpoint,
      (m) => this.connection.send(m),
      this.log,
      opts.statusRetryMs ?? 3000,
      (err, what) => this.pressure.writeFailed(err, what),
    );
    this.health = new HealthChecker({
      exec: (taskId, command, timeoutMs) => {
        const ex = this.executors.get(this.tasks.get(taskId)?.executor ?? "");
        if (!ex) return Promise.reject(new Error(`task ${taskId} has no executor here`));
        return ex.exec(taskId, command, timeoutMs);
      },
      onChange: (taskId, health) => this.onHealthChange(taskId, health),
      logger: this.log,
    });
    this.logs = new LogStreamer({
      logger: this.log,
      send: (m) => this.connection.send(m),
      whenWritable: () => this.connection.whenWritable(),
      resolve: (taskId, stream) => {
        if (!TASK_ID_PATTERN.test(taskId)) return undefined;
        const t = this.tasks.get(taskId);
        const ex = this.executors.get(t?.executor ?? "process");
        if (!ex) return undefined;
        return {
          path: ex.logPath(taskId, stream),
          done: () => {
            const now = this.tasks.get(taskId);
            return !now || isTerminal(now.state);
          },
        };
      },
    });
  }

  async start(): Promise<void> {
    await this.setUpDocker();
    this.fetcher = this.createFetcher();
    await this.recoverTasks(); // pins the releases of running tasks before the cache is touched
    await this.fetcher.start();
    for (const ex of this.id ? this.executors.values() : []) {
      // Containers of tasks the checkpoint no longer has (the master forgot them, or the
      // agent died between create and checkpoint) would run unaccounted for.
      await ex
        .removeOrphans?.(this.id!)
        .catch((err) =>
          this.log.warn("cannot sweep orphans", { executor: ex.name, error: errorMessage(err) }),
        );
    }
    this.updates.start();
    this.usageTimer = setInterval(() => this.reportUsage(), this.opts.usageIntervalMs ?? 10_000);
    this.connection.start();
  }

  executorNames(): string[] {
    return [...this.executors.keys()];
  }

  stop(opts: { killTasks?: boolean } = {}): Promise<void> {
    this.stopping ??= this.doStop(opts);
    return this.stopping;
  }

  /**
   * Ends within the shutdown grace (plus the tasks' kill grace with killTasks): a step that
   * hangs (an engine that does not answer, a peer that does not close) is left behind.
   */
  private async doStop(opts: { killTasks?: boolean }): Promise<void> {
    if (this.usageTimer) clearInterval(this.usageTimer);
    if (opts.killTasks) {
      const live = [...this.tasks.values()].filter((t) => !isTerminal(t.state));
      const kills = Promise.all(live.map((t) => this.killRunning(t, undefined)));
      const longestGrace = Math.max(0, ...live.map((t) => this.killGraceOf(t)));
      await stopStep(this.log, "killing the tasks", () => kills, longestGrace + this.shutdownGraceMs);
    }
    this.health.stop();
    const deadline = Date.now() + this.shutdownGraceMs;
    const left = () => Math.max(0, deadline - Date.now());
    this.pressure.stop();
    this.updates.stop();
    await stopStep(this.log, "ending the log reads", () => this.logs.stopAll(), left());
    await stopStep(this.log, "closing the master connection", () => this.connection.stop(), left());
    await stopStep(this.log, "stopping the fetcher", () => this.fetcher?.stop(), left());
    for (const [name, ex] of this.executors) {
      await stopStep(this.log, `stopping the ${name} executor`, () => ex.stop(), left());
    }
    this.checkpoint.close();
    this.log.info("agent stopped", { tasksKilled: opts.killTasks === true });
  }

  /**
   * Adds the docker executor when it is asked for (or executors are unset) and an engine
   * answers; the registration then advertises it.
   */
  private async setUpDocker(): Promise<void> {
    if (this.components.executors) return;
    const explicit = this.opts.executors?.includes("docker") ?? false;
    if (!explicit && !(this.opts.executors === undefined && this.opts.dockerIfAvailable)) return;
    let address: ReturnType<typeof engineAddress>;
    try {
      address = engineAddress(this.opts.dockerSocket);
    } catch (err) {
      this.log.warn("docker executor disabled", { reason: errorMessage(err) });
      return;
    }
    const docker = connectEngine(address);
    try {
      const version = await pingEngine(docker, 3000);
      this.executors.set(
        "docker",
        new DockerExecutor(
          { onEnded: (e) => this.onEnded(e) },
          {
            dataDir: this.opts.dataDir,
            docker,
            engine: address.display,
            allowedHostPaths: this.opts.allowedHostPaths,
            logger: this.log,
          },
        ),
      );
      this.log.info("docker executor enabled", { engine: address.display, version });
    } catch (err) {
      const fields = { engine: address.display, reason: errorMessage(err) };
      if (explicit) this.log.warn("no Docker engine answers: docker executor disabled", fields);
      else this.log.info("no Docker engine answers: docker executor disabled", fields);
    }
    this.register.info!.executors = [...this.executors.keys()];
  }

  /** Re-attaches to the tasks of the previous agent process. */
  private async recoverTasks(): Promise<void> {
    for (const t of this.checkpoint.tasks()) {
      this.tasks.set(t.taskId, {
        taskId: t.taskId,
        frameworkId: t.frameworkId,
        info: t.info,
        executor: t.executor,
        state: t.state,
        killRequested: t.killRequested,
      });
      if (isTerminal(t.state)) continue; // only its update waits for an ack
      if (t.info.release) this.fetcher?.pin(t.info.release, t.taskId);
      const ex = this.executors.get(t.executor);
      let executorState = t.executorState;
      let lookupError = "";
      if (ex?.findLaunched && !executorState) {
        // Killed between create and the RUNNING write: what it started says which task it is.
        try {
          executorState = await ex.findLaunched({ ...t, agentId: this.id ?? "" });
          if (executorState) this.checkpoint.setExecutorState(t.taskId, executorState);
        } catch (err) {
          lookupError = `; its container could not be looked for: ${errorMessage(err)}`;
        }
      }
      if (!ex || !executorState) {
        this.report(t.taskId, {
          state: TaskState.TASK_FAILED,
          reason: ex ? Reason.LAUNCH_FAILED : Reason.EXIT_STATUS_UNKNOWN,
          message: ex
            ? `the agent stopped while launching the task${lookupError}`
            : `executor "${t.executor}" is not available on this agent after its restart`,
        });
        continue;
      }
      try {
        await ex.recover({ ...t, agentId: this.id ?? "", state: executorState });
        const task = this.tasks.get(t.taskId);
        // Health checks go on where they were: same verdict, grace counted from the first RUNNING.
        if (task && !t.killRequested && ex.isRunning(t.taskId)) {
          this.watchHealth(task, t.runningSince ? t.runningSince * 1000 : Date.now(), t.health);
        }
        // A launch cut short before its RUNNING update: the task runs, so say it.
        if (
          task &&
          (task.state === TaskState.TASK_STAGING || task.state === TaskState.TASK_STARTING) &&
          ex.isRunning(t.taskId)
        ) {
          this.report(t.taskId, { state: TaskState.TASK_RUNNING, reason: "", message: "" });
        }
        // A kill that was under way when the agent stopped is carried on.
        if (task && t.killRequested && ex.isRunning(t.taskId)) {
          this.killRunning(task, undefined).catch((err) =>
            this.log.error("kill failed", { error: errorMessage(err) }),
          );
        }
      } catch (err) {
        this.report(t.taskId, {
          state: TaskState.TASK_FAILED,
          reason: Reason.EXIT_STATUS_UNKNOWN,
          message: `cannot re-attach to the task: ${errorMessage(err)}`,
        });
      }
    }
    if (this.tasks.size > 0) this.log.info("recovered tasks from checkpoint", { tasks: this.tasks.size });
  }

  private buildRegister(): Register {
    // Tasks that ended but whose terminal update is not acknowledged yet are named too (as
    // Mesos agents do), so that the master waits for that update instead of declaring them gone.
    const tasks = [...this.tasks.values()].map((t) => ({
      task: t.info,
      frameworkId: t.frameworkId,
      state: t.state,
    }));
    return {
      ...this.register,
      agentId: this.id ?? "",
      agentSecret: this.id ? (this.secret ?? "") : "",
      clusterId: this.checkpoint.clusterId() ?? "",
      info: { ...this.register.info!, id: this.id ?? "" },
      tasks,
      artifacts: this.fetcher?.cached() ?? [],
      conditions: this.pressure.conditions(),
    };
  }

  /** Disk pressure ends: what was kept in memory goes into the checkpoint (throws while it cannot). */
  private flushToCheckpoint(): void {
    this.checkpoint.probeWrite();
    if (this.checkpoint.agentId() !== this.id) this.checkpoint.setAgentId(this.id);
    if (this.id && this.checkpoint.agentSecret() !== this.secret) this.checkpoint.setAgentSecret(this.secret);
    this.updates.flush();
    for (const t of this.tasks.values()) {
      if (t.killRequested && !isTerminal(t.state)) this.checkpoint.setKillRequested(t.taskId);
    }
  }

  /**
   * Checkpoints and sends a status update for a task, and records its new state; `extra` goes
   * into the same checkpoint write.
   */
  private report(
    taskId: string,
    f: Omit<StatusFields, "taskId" | "frameworkId">,
    frameworkId?: string,
    extra?: UpdateExtras,
  ): void {
    const t = this.tasks.get(taskId);
    if (t) t.state = f.state;
    this.updates.emit(
      this.id ?? "",
      { taskId, frameworkId: frameworkId ?? t?.frameworkId ?? "", health: this.health.health(taskId), ...f },
      extra,
    );
  }

  private onMessage(m: MasterMessage): void {
    const runTasks = m.batch?.runTasks ?? [];
    for (const rt of m.runTask ? [m.runTask, ...runTasks] : runTasks) {
      this.launch(rt).catch((err) => this.launchBroke(rt, err));
    }
    if (m.killTask) this.kill(m.killTask);
    if (m.fetchArtifact) this.fetchArtifact(m.fetchArtifact);
    if (m.evictArtifact) {
      const release = m.evictArtifact.release;
      this.fetcher?.evict(release).catch((err) => {
        this.log.warn("evict refused", { release, error: errorMessage(err) });
        this.connection.send({
          fetchProgress: { ...emptyProgress(release), state: "FAILED", error: `evict: ${errorMessage(err)}` },
        });
      });
    }
    const acks = m.batch?.acks ?? [];
    for (const ack of m.ack ? [m.ack, ...acks] : acks) {
      if (this.updates.ack(ack.taskId, ack.uuid)) {
        const t = this.tasks.get(ack.taskId);
        if (t && isTerminal(t.state)) this.tasks.delete(ack.taskId);
      }
    }
    if (m.readLogs) this.logs.read(m.readLogs);
    if (m.cancelLogs) this.logs.cancel(m.cancelLogs.requestId);
    if (m.logFlow) this.logs.flow(m.logFlow.requestId, m.logFlow.paused);
    if (m.ping) {
      this.connection.send({
        heartbeat: { timestamp: Date.now() / 1000, conditions: this.pressure.conditions() },
      });
    }
    if (m.shutdown) this.log.warn("master sent shutdown, ignored", { message: m.shutdown.message });
  }

  private async launch(rt: RunTask): Promise<void> {
    const info = rt.task;
    if (!info || !TASK_ID_PATTERN.test(info.taskId)) {
      this.log.warn("run_task without a valid task, ignored", { task: info?.taskId });
      return;
    }
    const existing = this.tasks.get(info.taskId);
    if (existing && !isTerminal(existing.state)) {
      this.log.warn("run_task for a task already here, ignored", { task: info.taskId });
      return;
    }
    const executorName = info.executor || "process";
    const t: AgentTask = {
      taskId: info.taskId,
      frameworkId: rt.frameworkId,
      info,
      executor: executorName,
      state: TaskState.TASK_STAGING,
      killRequested: false,
    };
    this.tasks.set(t.taskId, t);
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
    if (this.pressure.active) {
      this.report(
        t.taskId,
        {
          state: TaskState.TASK_FAILED,
          reason: Reason.DISK_PRESSURE,
          message: `the agent is under disk pressure and takes no launches: ${this.pressure.reason()}`,
        },
        undefined,
        { task: firstWrite() },
      );
      return;
    }
    const ex = this.executors.get(executorName);
    if (!ex) {
      this.report(
        t.taskId,
        {
          state: TaskState.TASK_FAILED,
          reason: Reason.LAUNCH_FAILED,
          message: `executor "${executorName}" is not available on this agent (it has: ${[...this.executors.keys()].join(", ")})`,
        },
        undefined,
        { task: firstWrite() },
      );
      return;
    }
    const whileCreating = ex.checkpointAt === "while-creating";
    // A container may take a while to create (and its image to arrive): say so.
    const starting = () =>
      this.report(t.taskId, { state: TaskState.TASK_STARTING, reason: "", message: "" }, undefined, {
        task: firstWrite(),
      });
    if (!whileCreating) {
      const first = firstWrite()!;
      if (!this.pressure.tryWrite("task launch", () => this.checkpoint.addTask(first))) {
        this.report(
          t.taskId,
          {
            state: TaskState.TASK_FAILED,
            reason: Reason.DISK_PRESSURE,
            message: `the agent cannot record the task: ${this.pressure.reason()}`,
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
      this.fetcher?.pin(release, t.taskId);
      try {
        if (!this.fetcher) throw new Error("the agent has no artifact fetcher");
        await this.fetcher.prepare(rt.artifact, ex.releaseDir(t.taskId));
      } catch (err) {
        this.fetcher?.unpin(release, t.taskId);
        this.report(t.taskId, {
          state: TaskState.TASK_FAILED,
          reason: err instanceof InsufficientSpaceError ? Reason.INSUFFICIENT_DISK : Reason.FETCH_FAILED,
          message: `release ${release} could not be fetched, verified and installed: ${errorMessage(err)}`,
        });
        return;
      }
    }
    try {
      const req: LaunchRequest = {
        taskId: t.taskId,
        frameworkId: t.frameworkId,
        agentId: this.id ?? "",
        info,
        onCreating: whileCreating && !recorded ? starting : undefined,
      };
      const state = await ex.launch(req);
      // Checks start with RUNNING, whose update carries the first verdict (unknown).
      if (!t.killRequested) this.watchHealth(t, Date.now());
      // The executor's state (pid, container id) and RUNNING: durable together, one write.
      this.report(t.taskId, { state: TaskState.TASK_RUNNING, reason: "", message: "" }, undefined, {
        task: firstWrite(),
        executorState: state,
      });
      if (t.killRequested) {
        this.killRunning(t, undefined).catch((err) =>
          this.log.error("kill failed", { error: errorMessage(err) }),
        );
      }
    } catch (err) {
      this.report(
        t.taskId,
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
    this.log.error("launch failed", { task: rt.task?.taskId, error: errorMessage(err) });
    const t = rt.task ? this.tasks.get(rt.task.taskId) : undefined;
    if (!t || isTerminal(t.state) || this.executors.get(t.executor)?.isRunning(t.taskId)) return;
    try {
      this.report(t.taskId, {
        state: TaskState.TASK_FAILED,
        reason: Reason.LAUNCH_FAILED,
        message: `the agent could not launch the task: ${errorMessage(err)}`,
      });
    } catch (again) {
      this.log.error("cannot report a failed launch", { task: t.taskId, error: errorMessage(again) });
    }
  }

  private kill(k: KillTask): void {
    const t = this.tasks.get(k.taskId);
    if (!t) {
      this.log.info("kill for an unknown task", { task: k.taskId });
      this.updates.emit(this.id ?? "", {
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
    this.killRunning(t, graceMs).catch((err) => this.log.error("kill failed", { error: errorMessage(err) }));
  }

  private async killRunning(t: AgentTask, graceMs: number | undefined): Promise<void> {
    if (!t.killRequested) {
      t.killRequested = true;
      // On a full disk the kill goes on; the flag is written when the disk pressure ends.
      this.pressure.tryWrite("kill request", () => this.checkpoint.setKillRequested(t.taskId));
    }
    // A task being stopped is expected to fail its checks: no verdict about it any more.
    this.health.unwatch(t.taskId);
    const ex = this.executors.get(t.executor);
    // A task still launching is killed as soon as its launch returns.
    if (!ex?.isRunning(t.taskId)) return;
    const grace = graceMs ?? this.killGraceOf(t);
    this.log.info("killing task", { task: t.taskId, graceMs: grace });
    await ex.kill(t.taskId, grace);
  }

  private killGraceOf(t: AgentTask): number {
    return t.info.killGraceSeconds > 0 ? t.info.killGraceSeconds * 1000 : (this.opts.killGraceMs ?? 5000);
  }

  private get shutdownGraceMs(): number {
    return this.opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
  }

  private onEnded(e: TaskEnded): void {
    const release = this.tasks.get(e.taskId)?.info.release;
    if (release) this.fetcher?.unpin(release, e.taskId);
    if (this.forgetting.has(e.taskId)) return;
    if (!this.tasks.has(e.taskId)) {
      this.log.warn("an unknown task ended", { task: e.taskId });
      return;
    }
    this.health.unwatch(e.taskId);
    this.report(e.taskId, { state: e.state, reason: e.reason, message: e.message, exitCode: e.exitCode });
    this.health.forget(e.taskId);
  }

  /** Starts the task's health checks, when it has one. */
  private watchHealth(t: AgentTask, startedAtMs: number, health?: TaskHealth): void {
    const check = t.info.healthCheck;
    if (!check) return;
    this.health.watch({
      taskId: t.taskId,
      check,
      ports: firstPorts(t.info.resources?.ports ?? [], 1000),
      startedAtMs,
      health,
    });
  }

  /** A new verdict travels as an update of the same state (docs/protocol.md "Task health"). */
  private onHealthChange(taskId: string, health: TaskHealth): void {
    const t = this.tasks.get(taskId);
    if (!t || isTerminal(t.state) || t.killRequested) return;
    const message =
      health.state === HealthState.HEALTH_UNHEALTHY
        ? `unhealthy after ${health.consecutiveFailures} failed check(s): ${health.message}`
        : "";
    this.log.info("task health changed", {
      task: taskId,
      health: HealthState[health.state],
      check: health.message,
    });
    this.report(taskId, { state: t.state, reason: "", message, health });
  }

  /**
   * STALE_AGENT: the master (of this agent's cluster) does not know this agent; kill
   * everything and start over. WRONG_CLUSTER: the master is another cluster's (a registry
   * lost and started afresh, a wrong address); its word is worth nothing here, so the agent
   * keeps its tasks running, acts on nothing, and keeps trying until an operator fixes it.
   */
  private async onRefused(r: Refused): Promise<void> {
    if (r.reason === "WRONG_CLUSTER") {
      const now = Date.now();
      if (now - this.wrongClusterLoggedAt >= 60_000) {
        this.wrongClusterLoggedAt = now;
        this.log.error(
          "the master belongs to another cluster: keeping every task running, acting on nothing, retrying",
          {
            master: this.opts.master,
            cluster: this.checkpoint.clusterId(),
            tasks: [...this.tasks.values()].filter((t) => !isTerminal(t.state)).length,
            message: r.message,
          },
        );
      }
      return;
    }
    if (r.reason !== "STALE_AGENT") return;
    const running = [...this.tasks.values()].filter((t) => !isTerminal(t.state));
    this.log.warn("master does not know this agent: killing its tasks and registering anew", {
      agent: this.id,
      tasks: running.length,
    });
    for (const t of running) {
      this.forgetting.add(t.taskId);
      this.health.forget(t.taskId);
    }
    await Promise.all(running.map((t) => this.killRunning(t, undefined)));
    this.checkpoint.clearAll();
    this.tasks.clear();
    this.forgetting.clear();
    this.id = undefined;
    this.checkpoint.setAgentId(undefined);
    this.checkpoint.setAgentSecret(undefined);
  }

  private createFetcher(): ArtifactFetcher {
    const o = this.opts;
    const docker = this.executors.has("docker") ? engineAddress(o.dockerSocket).display : undefined;
    return new ArtifactFetcher(
      { onProgress: (p) => this.connection.send({ fetchProgress: p }) },
      {
        cacheDir: o.cacheDir ?? `${o.dataDir}/cache`,
        cacheSizeBytes: o.cacheSizeMiB === undefined ? undefined : o.cacheSizeMiB * 1024 * 1024,
        uploadRate: o.uploadRate,
        downloadRate: o.downloadRate,
        peerPort: o.peerPort,
        listenHost: o.peerHost,
        dockerHost: docker,
        dockerLoadTimeoutMs: o.dockerLoadTimeoutMs,
        tarTimeoutMs: o.tarTimeoutMs,
        diskReserveMiB: o.diskReserveMiB,
        logger: this.log,
      },
    );
  }

  /** A fetch command from the master; the outcome travels as fetch_progress. */
  private fetchArtifact(f: FetchArtifact): void {
    if (!this.fetcher) return;
    this.fetcher
      .fetch(f)
      .catch((err) => this.log.warn("fetch failed", { release: f.release, error: errorMessage(err) }));
  }

  private reportUsage(): void {
    if (!this.connection.registered) return;
    const now = Date.now() / 1000;
    const usage = [];
    for (const t of this.tasks.values()) {
      if (isTerminal(t.state)) continue;
      const u = this.executors.get(t.executor)?.usage(t.taskId);
      if (u) usage.push({ taskId: t.taskId, cpuSeconds: u.cpuSeconds, memBytes: u.memBytes, timestamp: now });
    }
    this.connection.send({ usage: { tasks: usage } });
  }
}

function emptyProgress(release: string) {
  return {
    release,
    sha256: "",
    state: "",
    downloaded: 0,
    uploaded: 0,
    size: 0,
    downloadRate: 0,
    uploadRate: 0,
    error: "",
  };
}
