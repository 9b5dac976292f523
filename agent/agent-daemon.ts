// The agent daemon: runs tasks for the master, reports their states reliably and survives
// its own restarts. It wires the checkpoint, the executors, the master connection, status
// updates, usage reports and log streaming; the protocol is docs/protocol.md "Agent ↔ master".
import os from "node:os";
import { errorMessage, InvalidArgumentError } from "../common/errors.js";
import { type MasterListInput, parseMasterList } from "../common/master-list.js";
import { TASK_ID_PATTERN } from "../common/ids.js";
import { createLogger, type Logger } from "../common/logger.js";
import { DEFAULT_SHUTDOWN_GRACE_MS, stopStep } from "../common/shutdown.js";
import { isTerminal } from "../common/task-states.js";
import type { FetchArtifact, MasterMessage, Refused, Register } from "../proto/gen/yard/v1/agent.js";
import { type Attribute, HealthState, type Range, type TaskHealth } from "../proto/gen/yard/v1/common.js";
import { findTask, type ReportTask, type TaskTable, taskName } from "./agent-task.js";
import type { Checkpoint } from "./checkpoint.js";
import { openCheckpoint } from "./checkpoint-open.js";
import { DiskPressure } from "./disk-pressure.js";
import { engineAddress } from "./docker/docker-engine.js";
import type { Executor, ExecutorFactory, TaskEnded } from "./executor.js";
import { createDockerExecutor, createProcessExecutor } from "./executor-setup.js";
import { ArtifactFetcher } from "./fetcher/artifact-fetcher.js";
import { closedAncestor, lockDownDataDir } from "./file-access.js";
import { HealthChecker } from "./health/health-checker.js";
import { LogStreamer } from "./log-streamer.js";
import { MasterConnection } from "./master-connection.js";
import { localAddressToward } from "./peer-address.js";
import { detectResources } from "./resources-detect.js";
import { StatusUpdates } from "./status-updates.js";
import { TaskLauncher } from "./task-launcher.js";
import { recoverTasks } from "./task-recovery.js";
import { TaskUsers } from "./task-user.js";
import { chooseTransport, INSECURE_WARNING, type TlsMaterial, type TransportChoice } from "../common/tls.js";
import { type MetricsServer, startMetricsServer } from "../common/metrics-server.js";
import { addResources, emptyResources } from "../common/resources.js";
import { AgentMetrics } from "./agent-metrics.js";
import { parseListenAddress } from "../common/listen-address.js";

export const AGENT_VERSION = "0.1.0";

export interface AgentOptions extends TransportChoice {
  /**
   * The master's gRPC address host:port, or several ("a:7070,b:7070" or a list): the agent
   * registers with whichever leads and follows it when another takes over (docs/ha.md).
   */
  master: MasterListInput;
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
  /** BitTorrent listen port (default 0: a free one) and address (default: the local address toward the master). */
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
   * The user process tasks run as when their framework names none (default `yard-task`,
   * created when missing). Only an agent running as root switches users.
   */
  taskUser?: string;
  /** Whether a task may run as root (uid 0), by its framework's asking (default false). */
  allowRootTasks?: boolean;
  /**
   * Keeps the checkpoint in memory instead of <dataDir>/agent.db: the same writes, without
   * their fsyncs and files, and nothing survives the agent. For running thousands of agents
   * in one process (the benchmarks); a real agent needs its checkpoint on disk.
   */
  checkpointInMemory?: boolean;
  /**
   * HOST:PORT of the agent's HTTP port for Prometheus /metrics and /healthz (docs/metrics.md):
   * HTTPS needing a cluster certificate when the agent runs mTLS. Off by default.
   */
  metricsListen?: string;
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
  /** Whether the agent is registered on a live stream with the leading master now. */
  connected(): boolean;
  /** The executors the agent offers (known once started). */
  executors(): string[];
  /** Stops the agent. By default tasks keep running; with killTasks they are killed first. */
  stop(opts?: { killTasks?: boolean }): Promise<void>;
}

export async function startAgent(opts: AgentOptions, components: AgentComponents = {}): Promise<AgentHandle> {
  const agent = new AgentDaemon(opts, components);
  await agent.start();
  return {
    agentId: () => agent.id,
    connected: () => agent.connected(),
    executors: () => agent.executorNames(),
    stop: (o) => agent.stop(o),
  };
}

class AgentDaemon {
  id: string | undefined;
  private readonly log: Logger;
  /** TLS material towards the master and its tracker; null with --insecure. */
  private readonly tls: TlsMaterial | null;
  /** Every master the agent may dial, in the operator's order. */
  private readonly masters: readonly string[];
  private readonly checkpoint: Checkpoint;
  private readonly executors = new Map<string, Executor>();
  private readonly tasks: TaskTable = new Map();
  private readonly launcher: TaskLauncher;
  private readonly users: TaskUsers;
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
  /** Only with --metrics-listen: fleets of thousands of agents in one process record nothing. */
  private readonly metrics?: AgentMetrics;
  private metricsServer?: MetricsServer;

  constructor(
    private readonly opts: AgentOptions,
    private readonly components: AgentComponents = {},
  ) {
    this.log = opts.logger ?? createLogger("agent");
    this.tls = chooseTransport(opts, "agent");
    if (opts.metricsListen !== undefined) parseListenAddress("metricsListen", opts.metricsListen);
    this.metrics =
      opts.metricsListen === undefined
        ? undefined
        : new AgentMetrics({
            taskStates: () => [...this.tasks.values()].map((t) => t.state),
            total: () => this.register.info?.resources,
            used: () => {
              let used = emptyResources();
              for (const t of this.tasks.values())
                if (!isTerminal(t.state) && t.info.resources) used = addResources(used, t.info.resources);
              return used;
            },
          });
    if (!this.tls) this.log.warn(INSECURE_WARNING);
    this.masters = parseMasterList(opts.master, "master");
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
    lockDownDataDir(opts.dataDir);
    this.checkpoint = openCheckpoint(opts.dataDir, opts.cacheDir ?? `${opts.dataDir}/cache`, this.log, {
      inMemory: opts.checkpointInMemory,
    });
    lockDownDataDir(opts.dataDir); // the checkpoint's files too
    this.users = new TaskUsers({
      defaultUser: opts.taskUser,
      allowRoot: opts.allowRootTasks,
      logger: this.log,
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

    const events = { onEnded: (e: TaskEnded) => this.launcher.onEnded(e) };
    for (const [name, create] of Object.entries(components.executors ?? {})) {
      this.executors.set(name, create(events));
    }
    const names = components.executors ? [] : (opts.executors ?? ["process"]);
    for (const name of names) {
      if (name === "docker") continue; // needs the engine's answer: set up in start()
      if (name !== "process") {
        this.log.warn("executor not supported by this agent, ignored", { executor: name });
        continue;
      }
      this.executors.set(name, createProcessExecutor({ ...opts, users: this.users }, events, this.log));
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
      masters: this.masters,
      token: opts.token,
      tls: this.tls,
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
        this.fetcher?.setSwarmCredentials(r.swarmKey, r.swarmPasskey);
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
      onProbe: (kind, ok, seconds) => this.metrics?.healthProbe(kind, ok, seconds),
      logger: this.log,
    });
    this.launcher = new TaskLauncher(
      {
        tasks: this.tasks,
        executors: this.executors,
        checkpoint: this.checkpoint,
        pressure: this.pressure,
        health: this.health,
        updates: this.updates,
        fetcher: () => this.fetcher,
        report: this.report,
        agentId: () => this.id,
        logger: this.log,
      },
      { killGraceMs: opts.killGraceMs },
    );
    this.logs = new LogStreamer({
      logger: this.log,
      send: (m) => this.connection.send(m),
      whenWritable: () => this.connection.whenWritable(),
      resolve: (frameworkId, taskId, stream) => {
        if (!TASK_ID_PATTERN.test(taskId) || !TASK_ID_PATTERN.test(frameworkId)) return undefined;
        const t = findTask(this.tasks, frameworkId, taskId);
        const name = t?.name ?? taskName(frameworkId, taskId);
        const ex = this.executors.get(t?.executor ?? "process");
        if (!ex) return undefined;
        return {
          path: ex.logPath(name, stream),
          done: () => {
            const now = this.tasks.get(name);
            return !now || isTerminal(now.state);
          },
        };
      },
    });
  }

  async start(): Promise<void> {
    if (this.executors.has("process") && !this.components.executors) await this.startTaskUsers();
    await this.setUpDocker();
    const fetcher = this.createFetcher(await this.peerHost());
    this.fetcher = fetcher;
    // Pins the releases of running tasks before the cache is touched.
    await recoverTasks({
      tasks: this.tasks,
      executors: this.executors,
      checkpoint: this.checkpoint,
      fetcher,
      launcher: this.launcher,
      report: this.report,
      agentId: () => this.id,
      logger: this.log,
    });
    await this.fetcher.start();
    lockDownDataDir(this.opts.dataDir); // a cache created just now too
    for (const ex of this.id ? this.executors.values() : []) {
      // Containers of tasks the checkpoint no longer has (the master forgot them, or the
      // agent died between create and checkpoint) would run unaccounted for.
      await ex
        .removeOrphans?.(this.id!)
        .catch((err) => this.log.warn("cannot sweep orphans", { executor: ex.name, err }));
    }
    // Before the master connection: a scrape can tell an agent that never registers.
    if (this.metrics && this.opts.metricsListen !== undefined) {
      this.metricsServer = await startMetricsServer({
        listen: this.opts.metricsListen,
        field: "metricsListen",
        registry: this.metrics.registry,
        tls: this.tls,
        logger: this.log,
      });
    }
    this.updates.start();
    this.usageTimer = setInterval(() => this.reportUsage(), this.opts.usageIntervalMs ?? 10_000);
    this.connection.start();
  }

  connected(): boolean {
    return this.connection.registered;
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
      const kills = Promise.all(live.map((t) => this.launcher.killRunning(t, undefined)));
      const longestGrace = Math.max(0, ...live.map((t) => this.launcher.killGraceOf(t)));
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
    await stopStep(this.log, "closing the metrics port", () => this.metricsServer?.stop(), left());
    this.checkpoint.close();
    this.log.info("agent stopped", { tasksKilled: opts.killTasks === true });
  }

  /** The default task user exists (or is made); a sandbox path tasks cannot follow is said once. */
  private async startTaskUsers(): Promise<void> {
    await this.users.start();
    const closed = this.users.switchesUsers ? closedAncestor(this.opts.dataDir) : undefined;
    if (closed) {
      this.log.warn(
        "tasks cannot reach their sandbox by its absolute path ($YARD_SANDBOX): a directory above it is closed to other users",
        { dir: closed },
      );
    }
  }

  /**
   * Adds the docker executor when it is asked for (or executors are unset) and an engine
   * answers; the registration then advertises it.
   */
  private async setUpDocker(): Promise<void> {
    if (this.components.executors) return;
    const explicit = this.opts.executors?.includes("docker") ?? false;
    if (!explicit && !(this.opts.executors === undefined && this.opts.dockerIfAvailable)) return;
    const docker = await createDockerExecutor(
      { ...this.opts, explicit },
      { onEnded: (e) => this.launcher.onEnded(e) },
      this.log,
    );
    if (docker) this.executors.set("docker", docker);
    this.register.info!.executors = [...this.executors.keys()];
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
      if (t.killRequested && !isTerminal(t.state)) this.checkpoint.setKillRequested(t.frameworkId, t.taskId);
    }
  }

  /**
   * Checkpoints and sends a status update for a task, and records its new state; `extra` goes
   * into the same checkpoint write.
   */
  private readonly report: ReportTask = (name, f, frameworkId, extra) => {
    const t = this.tasks.get(name);
    if (t) t.state = f.state;
    this.metrics?.stateReported(name, f.state);
    this.updates.emit(
      this.id ?? "",
      {
        taskId: t?.taskId ?? name,
        frameworkId: frameworkId ?? t?.frameworkId ?? "",
        health: this.health.health(name),
        ...f,
      },
      extra,
    );
  };

  private onMessage(m: MasterMessage): void {
    const runTasks = m.batch?.runTasks ?? [];
    for (const rt of m.runTask ? [m.runTask, ...runTasks] : runTasks) {
      if (rt.task) this.metrics?.launchReceived(taskName(rt.frameworkId, rt.task.taskId));
      this.launcher.run(rt);
    }
    if (m.killTask) this.launcher.kill(m.killTask);
    if (m.fetchArtifact) this.fetchArtifact(m.fetchArtifact);
    if (m.evictArtifact) {
      const release = m.evictArtifact.release;
      this.fetcher?.evict(release).catch((err) => {
        this.log.warn("evict refused", { release, err });
        this.connection.send({
          fetchProgress: { ...emptyProgress(release), state: "FAILED", error: `evict: ${errorMessage(err)}` },
        });
      });
    }
    const acks = m.batch?.acks ?? [];
    for (const ack of m.ack ? [m.ack, ...acks] : acks) {
      if (this.updates.ack(ack.frameworkId, ack.taskId, ack.uuid)) {
        const t = findTask(this.tasks, ack.frameworkId, ack.taskId);
        if (t && isTerminal(t.state)) this.tasks.delete(t.name);
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

  private get shutdownGraceMs(): number {
    return this.opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;
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
            master: this.connection.address,
            cluster: this.checkpoint.clusterId(),
            tasks: [...this.tasks.values()].filter((t) => !isTerminal(t.state)).length,
            message: r.message,
          },
        );
      }
      return;
    }
    if (r.reason !== "STALE_AGENT") return;
    this.log.warn("master does not know this agent: killing its tasks and registering anew", {
      agent: this.id,
      tasks: [...this.tasks.values()].filter((t) => !isTerminal(t.state)).length,
    });
    await this.launcher.forgetAll();
    this.checkpoint.clearAll();
    this.id = undefined;
    this.checkpoint.setAgentId(undefined);
    this.checkpoint.setAgentSecret(undefined);
  }

  /**
   * --peer-host, else the local address toward the masters (agent/peer-address.ts): toward
   * the first of the list that resolves, since all of them sit on the cluster's network.
   */
  private async peerHost(): Promise<string | undefined> {
    if (this.opts.peerHost) return this.opts.peerHost;
    let lastError: unknown;
    for (const master of this.masters) {
      try {
        return await localAddressToward(master);
      } catch (err) {
        lastError = err;
      }
    }
    this.log.warn(
      "cannot tell the address toward the master: the BitTorrent listener binds every interface (set --peer-host)",
      { master: this.masters.join(","), err: lastError },
    );
    return undefined;
  }

  private createFetcher(peerHost: string | undefined): ArtifactFetcher {
    const o = this.opts;
    const docker = this.executors.has("docker") ? engineAddress(o.dockerSocket).display : undefined;
    return new ArtifactFetcher(
      {
        onProgress: (p) => {
          this.metrics?.fetchProgress(p);
          this.connection.send({ fetchProgress: p });
        },
      },
      {
        cacheDir: o.cacheDir ?? `${o.dataDir}/cache`,
        cacheSizeBytes: o.cacheSizeMiB === undefined ? undefined : o.cacheSizeMiB * 1024 * 1024,
        uploadRate: o.uploadRate,
        downloadRate: o.downloadRate,
        peerPort: o.peerPort,
        listenHost: peerHost,
        tls: this.tls,
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
    this.fetcher.fetch(f).catch((err) => this.log.warn("fetch failed", { release: f.release, err }));
  }

  private reportUsage(): void {
    if (!this.connection.registered) return;
    const now = Date.now() / 1000;
    const usage = [];
    for (const t of this.tasks.values()) {
      if (isTerminal(t.state)) continue;
      const u = this.executors.get(t.executor)?.usage(t.name);
      if (u)
        usage.push({
          taskId: t.taskId,
          frameworkId: t.frameworkId,
          cpuSeconds: u.cpuSeconds,
          memBytes: u.memBytes,
          timestamp: now,
        });
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
