// The master's core: the registry of agents, frameworks and tasks, the offer cycle, status
// update delivery and failure handling. It talks to its peers through links (links.ts) and
// decides with the pure allocator and Accept validation; every state change is written to
// SQLite in one transaction before anyone is told about it.
import { status as Code } from "@grpc/grpc-js";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../common/errors.js";
import { newId, newUuid } from "../common/ids.js";
import { createLogger, type Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { isEmptyResources } from "../common/resources.js";
import { canTransition, isTerminal, TaskState } from "../common/task-states.js";
import type { AgentMessage, MasterMessage, Register, RunningTask } from "../proto/gen/yard/v1/agent.js";
import {
  type AgentInfo,
  type FrameworkInfo,
  type Offer,
  type TaskInfo,
  TaskStatus,
  type TaskUsage,
} from "../proto/gen/yard/v1/common.js";
import type { AgentState, FrameworkState, TaskRecord } from "../proto/gen/yard/v1/operator.js";
import { Event_Type, type Operation } from "../proto/gen/yard/v1/scheduler.js";
import { validateAccept } from "./accept-validation.js";
import { Allocator } from "./allocator/allocator.js";
import { type OfferRecord, OfferBook } from "./allocator/offer-book.js";
import { EventLog } from "./event-log.js";
import type { AgentLink, FrameworkLink } from "./links.js";
import { LogRelay } from "./log-relay.js";
import type { AgentStatusName, MasterStore } from "./master-store.js";
import { DEFAULT_MASTER_CONFIG, failoverSeconds, type MasterConfig, roleOf } from "./master-config.js";
import { agentView, frameworkView, type TaskFilter, taskViews } from "./operator-views.js";
import { validateRegistration } from "./registration-check.js";
import type { AgentEntry, FrameworkEntry, TaskEntry } from "./registry-entries.js";
import type { ReleaseHooks } from "./releases/release-hooks.js";

export { DEFAULT_MASTER_CONFIG, type MasterConfig };

const now = () => Date.now();

export class Master {
  private readonly log: Logger;
  private readonly agents = new Map<string, AgentEntry>();
  private readonly frameworks = new Map<string, FrameworkEntry>();
  private readonly tasks = new Map<string, TaskEntry>();
  /** Terminal, acknowledged task ids, oldest first (Map keeps insertion order). */
  private readonly finished = new Map<string, true>();
  private readonly allocator: Allocator;
  private readonly offers: OfferBook;
  readonly events: EventLog;
  readonly logs = new LogRelay();
  private readonly dirtyAgents = new Set<string>();
  private immediateScheduled = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly startedAt = now() / 1000;
  /** Durations of recent full cycles (all agents) and of immediate cycles (a few agents). */
  private readonly cycleTimesMs = { full: [] as number[], immediate: [] as number[] };
  readonly counters = { placements: 0, offersSent: 0, statusUpdates: 0, cycles: 0 };
  /** The release store (master/releases/), once the daemon attached it. */
  private releases?: ReleaseHooks;

  constructor(
    private readonly store: MasterStore,
    readonly config: MasterConfig = DEFAULT_MASTER_CONFIG,
    logger?: Logger,
  ) {
    this.log = logger ?? createLogger("master");
    this.allocator = new Allocator({ defaultRefuseSeconds: config.defaultRefuseSeconds });
    this.offers = new OfferBook({ offerTimeoutMs: config.offerTimeoutMs });
    this.events = new EventLog(store);
    store.onGroupFailure = (err) =>
      this.log.error("committing status updates failed; agents will send them again", { error: String(err) });
    for (const [role, opts] of Object.entries(config.roles)) this.allocator.setRole(role, opts);
    this.recover();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Rebuilds the in-memory registry from SQLite after a (re)start. */
  private recover(): void {
    const t = now();
    for (const a of this.store.loadAgents()) {
      // Nobody is connected yet: agents have agentTimeout from now to come back.
      const status: AgentStatusName = a.status === "LOST" ? "LOST" : "DISCONNECTED";
      this.agents.set(a.info.id, {
        info: a.info,
        status,
        draining: a.draining,
        registeredAt: a.registeredAt,
        lastSeenMs: t,
        tasks: new Set(),
        ackOutbox: [],
      });
      this.allocator.addAgent({ id: a.info.id, total: a.info.resources!, draining: a.draining });
      this.allocator.setAgentActive(a.info.id, false);
    }
    for (const f of this.store.loadFrameworks()) {
      const entry: FrameworkEntry = {
        info: f.info,
        status: f.status === "INACTIVE" ? "INACTIVE" : "DISCONNECTED",
        registeredAt: f.registeredAt,
        disconnectedAtMs: f.status === "CONNECTED" ? t : f.disconnectedAt * 1000 || t,
        suppressed: f.suppressed,
        lastHeartbeatMs: 0,
        unacked: new Map(),
        tasks: new Set(),
        outbox: [],
        removing: f.status === "INACTIVE",
        forgotten: false,
      };
      this.frameworks.set(f.info.id, entry);
      // Removed frameworks stay known to the allocator until their last task has ended.
      this.allocator.addFramework({
        id: f.info.id,
        role: roleOf(f.info),
        active: false,
        suppressed: f.suppressed,
      });
    }
    for (const stored of this.store.loadTasks()) {
      const task: TaskEntry = { ...stored, seenUuids: [] };
      this.tasks.set(task.info.taskId, task);
      const fw = this.frameworks.get(task.frameworkId);
      if (isTerminal(task.status.state)) {
        if (task.acknowledged || !task.status.uuid) this.finished.set(task.info.taskId, true);
        else fw?.unacked.set(task.info.taskId, 0);
        continue;
      }
      if (task.status.uuid && !task.acknowledged) fw?.unacked.set(task.info.taskId, 0);
      fw?.tasks.add(task.info.taskId);
      const agent = this.agents.get(task.info.agentId);
      agent?.tasks.add(task.info.taskId);
      if (agent && fw && !fw.removing) {
        this.allocator.addUsed(agent.info.id, fw.info.id, task.info.resources!);
      }
    }
    this.log.info("registry recovered", {
      agents: this.agents.size,
      frameworks: this.frameworks.size,
      tasks: this.tasks.size,
    });
  }

  start(): void {
    this.timers.push(
      setInterval(
        () => this.guard("allocation", () => this.allocationTick()),
        this.config.allocationIntervalMs,
      ),
    );
    this.timers.push(setInterval(() => this.guard("maintenance", () => this.maintenanceTick()), 500));
    for (const t of this.timers) t.unref();
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const a of this.agents.values()) a.link?.close();
    for (const f of this.frameworks.values()) f.link?.end(Code.UNAVAILABLE, "master is shutting down");
  }

  /** Connects the release store: fetch reports, cached artifacts, releases on tasks and offers. */
  attachReleases(hooks: ReleaseHooks): void {
    this.releases = hooks;
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error(`${what} failed`, { error: err instanceof Error ? err.stack : String(err) });
    }
  }

  // ---------------------------------------------------------------- allocation

  private allocationTick(): void {
    const t = now();
    for (const offer of this.offers.expired(t)) this.rescindOffer(offer, "offer timed out", t);
    const started = performance.now();
    const grants = this.allocator.allocate(t, (a, f) => this.offers.has(a, f));
    this.recordCycle(performance.now() - started, true);
    this.dirtyAgents.clear();
    this.sendGrants(grants, t);
  }

  /** Runs an allocation cycle for the given agent soon, without waiting for the batch tick. */
  private allocateSoon(agentId: string): void {
    this.dirtyAgents.add(agentId);
    if (this.immediateScheduled) return;
    this.immediateScheduled = true;
    setImmediate(() => {
      this.immediateScheduled = false;
      if (this.dirtyAgents.size === 0 || this.timers.length === 0) return;
      const ids = [...this.dirtyAgents];
      this.dirtyAgents.clear();
      this.guard("allocation", () => {
        const t = now();
        const started = performance.now();
        const grants = this.allocator.allocateAgents(ids, t, (a, f) => this.offers.has(a, f));
        this.recordCycle(performance.now() - started, false);
        this.sendGrants(grants, t);
      });
    });
  }

  private recordCycle(ms: number, full: boolean): void {
    this.counters.cycles++;
    const list = full ? this.cycleTimesMs.full : this.cycleTimesMs.immediate;
    list.push(ms);
    if (list.length > 2000) list.splice(0, 1000);
  }

  cycleTimes(kind: "full" | "immediate"): number[] {
    return [...this.cycleTimesMs[kind]];
  }

  private sendGrants(grants: ReturnType<Allocator["allocate"]>, t: number): void {
    if (grants.length === 0) return;
    const byFramework = new Map<string, Offer[]>();
    for (const g of grants) {
      const fw = this.frameworks.get(g.frameworkId);
      const agent = this.agents.get(g.agentId);
      if (!fw?.link || !agent) {
        // Raced with a disconnect: give the resources straight back.
        this.allocator.recover(g.agentId, g.frameworkId, g.resources, t, 0);
        continue;
      }
      const rec = this.offers.add(g, t);
      let list = byFramework.get(g.frameworkId);
      if (!list) {
        list = [];
        byFramework.set(g.frameworkId, list);
      }
      list.push({
        id: rec.id,
        frameworkId: g.frameworkId,
        agentId: g.agentId,
        hostname: agent.info.hostname,
        resources: g.resources,
        attributes: agent.info.attributes,
        executors: agent.info.executors,
        releases: this.releases?.releasesHeldBy(g.agentId) ?? [],
      });
    }
    for (const [fwId, offers] of byFramework) {
      this.counters.offersSent += offers.length;
      this.frameworks.get(fwId)!.link!.send({ type: Event_Type.OFFERS, offers: { offers } });
    }
  }

  private rescindOffer(offer: OfferRecord, reason: string, t: number): void {
    this.offers.remove(offer.id);
    this.allocator.recover(offer.agentId, offer.frameworkId, offer.resources, t, 0);
    this.frameworks.get(offer.frameworkId)?.link?.send({
      type: Event_Type.RESCIND,
      rescind: { offerId: offer.id, reason },
    });
    this.allocateSoon(offer.agentId);
  }

  // ---------------------------------------------------------------- maintenance

  private maintenanceTick(): void {
    const t = now();
    for (const agent of this.agents.values()) {
      if (agent.status !== "LOST" && t - agent.lastSeenMs > this.config.agentTimeoutMs)
        this.agentLost(agent, t);
      if (agent.drainKillAtMs !== undefined && t >= agent.drainKillAtMs) {
        agent.drainKillAtMs = undefined;
        for (const id of agent.tasks)
          this.killTaskInternal(this.tasks.get(id)!, undefined, Reason.AGENT_DRAINED);
      }
    }
    for (const fw of this.frameworks.values()) {
      if (fw.status === "DISCONNECTED" && !fw.removing) {
        const timeout = failoverSeconds(fw.info, this.config) * 1000;
        if (t - fw.disconnectedAtMs > timeout) {
          this.log.warn("framework did not come back within its failover timeout", { framework: fw.info.id });
          this.removeFramework(fw, "failover timeout passed");
        }
      }
      if (fw.link) {
        if (t - fw.lastHeartbeatMs >= this.config.frameworkHeartbeatMs) {
          fw.lastHeartbeatMs = t;
          fw.link.send({ type: Event_Type.HEARTBEAT });
        }
        for (const [taskId, sentAt] of fw.unacked) {
          if (t - sentAt >= this.config.updateRetryMs) this.sendUpdate(fw, this.tasks.get(taskId), t);
        }
      }
      if (fw.removing && fw.tasks.size === 0 && !fw.forgotten) this.finishRemoval(fw);
    }
  }

  // ---------------------------------------------------------------- agents

  /** Handles the first message of an agent's stream. Returns the refusal, if any. */
  registerAgent(link: AgentLink, reg: Register): { agentId: string } | { refused: string; message: string } {
    const problem = validateRegistration(reg);
    if (problem) return { refused: "BAD_REGISTRATION", message: problem };
    const t = now();
    const info: AgentInfo = { ...reg.info!, id: reg.agentId || newId("agent") };
    let agent = reg.agentId ? this.agents.get(reg.agentId) : undefined;
    if (reg.agentId && !agent) {
      return {
        refused: "STALE_AGENT",
        message: `agent id ${reg.agentId} is unknown to this master; register as a new agent`,
      };
    }
    if (agent?.link) {
      return { refused: "DUPLICATE_AGENT", message: `agent ${reg.agentId} is already connected` };
    }
    const reregistered = agent !== undefined;
    this.store.transaction(() => {
      if (!agent) {
        agent = {
          info,
          status: "ACTIVE",
          draining: false,
          registeredAt: t / 1000,
          lastSeenMs: t,
          tasks: new Set(),
          ackOutbox: [],
        };
        this.agents.set(info.id, agent);
        this.events.append({ type: "AGENT_ADDED", agentId: info.id, message: info.hostname });
      } else {
        for (const o of this.offers.forAgent(info.id)) this.offers.remove(o.id);
        this.allocator.removeAgent(info.id);
        agent.info = info;
        agent.status = "ACTIVE";
        agent.lastSeenMs = t;
        this.events.append({ type: "AGENT_REREGISTERED", agentId: info.id, message: info.hostname });
      }
      agent.link = link;
      this.store.putAgent({ ...agent, lastSeen: t / 1000 });
    });
    const a = agent!;
    // The agent must hear that it is registered before any reconciliation kill arrives.
    link.send({
      registered: { agentId: info.id, heartbeatIntervalSeconds: this.config.agentHeartbeatMs / 1000 },
    });
    if (reregistered) {
      this.allocator.addAgent({ id: info.id, total: info.resources!, draining: a.draining });
      this.reconcileAgent(a, reg.tasks);
    } else {
      this.allocator.addAgent({ id: info.id, total: info.resources!, draining: false });
    }
    this.log.info(reregistered ? "agent re-registered" : "agent registered", {
      agent: info.id,
      hostname: info.hostname,
      tasks: reg.tasks.length,
    });
    // After `registered`: fetch commands for the releases staged on it and not held.
    this.guard("release bookkeeping", () => this.releases?.agentRegistered(info.id, reg.artifacts));
    this.allocateSoon(info.id);
    return { agentId: info.id };
  }

  /** Matches what a returning agent runs with what the master knows (docs/protocol.md §9). */
  private reconcileAgent(agent: AgentEntry, running: RunningTask[]): void {
    const reported = new Map(running.filter((r) => r.task).map((r) => [r.task!.taskId, r]));
    for (const taskId of [...agent.tasks]) {
      if (reported.has(taskId)) continue;
      const task = this.tasks.get(taskId)!;
      this.applyStatus(task, {
        state: TaskState.TASK_LOST,
        reason: Reason.TASK_GONE,
        message: "the agent came back without this task",
        source: "master",
      });
    }
    for (const [taskId, r] of reported) {
      const task = this.tasks.get(taskId);
      const fw = this.frameworks.get(r.frameworkId);
      if (!task || isTerminal(task.status.state) || !fw || fw.removing || task.killRequested) {
        this.log.info("killing a task the cluster no longer wants", { agent: agent.info.id, task: taskId });
        agent.link?.send({ killTask: { taskId, frameworkId: r.frameworkId, graceSeconds: 0 } });
        continue;
      }
      if (task.info.agentId === agent.info.id) {
        agent.tasks.add(taskId);
        this.allocator.addUsed(agent.info.id, task.frameworkId, task.info.resources!);
      }
    }
  }

  agentMessage(agentId: string, link: AgentLink, msg: AgentMessage): void {
    const agent = this.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.lastSeenMs = now();
    if (msg.status?.status) this.agentStatus(agent, msg.status.status);
    for (const u of msg.batch?.statuses ?? []) if (u.status) this.agentStatus(agent, u.status);
    if (msg.usage) {
      for (const u of msg.usage.tasks) {
        const task = this.tasks.get(u.taskId);
        if (task) task.usage = u as TaskUsage;
      }
    }
    if (msg.logData) this.logs.deliver(msg.logData);
    const progress = msg.fetchProgress;
    if (progress) this.guard("fetch progress", () => this.releases?.fetchProgress(agentId, progress));
  }

  /** Sends down an agent's stream; false when the agent is not connected. */
  sendToAgent(agentId: string, msg: MasterMessage): boolean {
    const link = this.agents.get(agentId)?.link;
    if (!link) return false;
    link.send(msg);
    return true;
  }

  /** Ids of the non-terminal tasks that run `release` (NAME@VERSION). */
  tasksUsingRelease(release: string): string[] {
    const out: string[] = [];
    for (const t of this.tasks.values()) {
      if (t.info.release === release && !isTerminal(t.status.state)) out.push(t.info.taskId);
    }
    return out;
  }

  /** Refuses launches that name a release the release store does not hold. */
  private checkTaskReleases(operations: Operation[]): void {
    operations.forEach((op, i) => {
      op.launch?.tasks.forEach((task, j) => {
        if (!task.release) return;
        const field = `operations[${i}].launch.tasks[${j}].release`;
        if (!this.releases) throw new InvalidArgumentError(field, `"${task.release}" is not a known release`);
        this.releases.checkTaskRelease(task.release, field);
      });
    });
  }

  agentDisconnected(agentId: string, link: AgentLink): void {
    const agent = this.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.link = undefined;
    this.logs.failAgent(agentId, "the agent disconnected");
    if (agent.status === "LOST") return;
    agent.status = "DISCONNECTED";
    this.store.transaction(() => {
      this.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.events.append({ type: "AGENT_DISCONNECTED", agentId });
    });
    this.allocator.setAgentActive(agentId, false);
    const t = now();
    for (const o of this.offers.forAgent(agentId)) this.rescindOffer(o, "agent disconnected", t);
    this.log.warn("agent disconnected", { agent: agentId });
  }

  private agentLost(agent: AgentEntry, t: number): void {
    this.log.warn("agent lost: no message within the timeout", {
      agent: agent.info.id,
      timeoutMs: this.config.agentTimeoutMs,
    });
    for (const o of this.offers.forAgent(agent.info.id)) this.rescindOffer(o, "agent lost", t);
    this.allocator.setAgentActive(agent.info.id, false);
    this.store.transaction(() => {
      agent.status = "LOST";
      this.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.events.append({ type: "AGENT_LOST", agentId: agent.info.id });
      for (const taskId of [...agent.tasks]) {
        this.applyStatus(this.tasks.get(taskId)!, {
          state: TaskState.TASK_LOST,
          reason: Reason.AGENT_LOST,
          message: `agent ${agent.info.id} (${agent.info.hostname}) was lost`,
          source: "master",
        });
      }
    });
    agent.link?.close();
    agent.link = undefined;
    for (const fw of this.frameworks.values()) {
      fw.link?.send({
        type: Event_Type.FAILURE,
        failure: { agentId: agent.info.id, message: `agent ${agent.info.hostname} was lost` },
      });
    }
  }

  private agentStatus(agent: AgentEntry, status: TaskStatus): void {
    const task = this.tasks.get(status.taskId);
    this.store.beginGroup();
    // The agent stops resending an update once acked, so ack only what is committed; the
    // acks of one commit go down in one message.
    const ack = () => {
      if (!status.uuid) return;
      agent.ackOutbox.push({ taskId: status.taskId, uuid: status.uuid });
      if (agent.ackOutbox.length > 1) return;
      this.store.afterCommit(() => {
        const acks = agent.ackOutbox.splice(0);
        agent.link?.send({ batch: { runTasks: [], acks } });
      });
    };
    if (!task) {
      // Not ours (forgotten or never launched here): acknowledge so the agent stops retrying.
      ack();
      if (!isTerminal(status.state)) {
        agent.link?.send({
          killTask: { taskId: status.taskId, frameworkId: status.frameworkId, graceSeconds: 0 },
        });
      }
      return;
    }
    const duplicate = status.uuid !== "" && task.seenUuids.includes(status.uuid);
    if (duplicate || task.info.agentId !== agent.info.id) {
      ack();
      return;
    }
    this.counters.statusUpdates++;
    if (status.uuid) {
      task.seenUuids.push(status.uuid);
      if (task.seenUuids.length > 8) task.seenUuids.shift();
    }
    if (canTransition(task.status.state, status.state))
      this.applyStatus(task, { ...status, source: "agent" });
    ack();
  }

  /**
   * Records a task's new state, returns its resources when it ends, and forwards it to the
   * framework. Master-made updates get a uuid so that they too are delivered reliably.
   */
  private applyStatus(task: TaskEntry, update: Partial<TaskStatus> & { state: TaskState }): void {
    const t = now();
    const wasTerminal = isTerminal(task.status.state);
    task.status = TaskStatus.fromPartial({
      ...update,
      taskId: task.info.taskId,
      agentId: task.info.agentId,
      frameworkId: task.frameworkId,
      uuid: update.uuid || newUuid(),
      timestamp: update.timestamp || t / 1000,
    });
    task.acknowledged = false;
    const terminal = isTerminal(task.status.state);
    this.store.transaction(() => {
      this.store.updateTask(task, terminal, t / 1000);
      this.events.append({
        type: "TASK_UPDATED",
        taskId: task.info.taskId,
        agentId: task.info.agentId,
        frameworkId: task.frameworkId,
        taskState: task.status.state,
        message: task.status.message,
      });
    });
    const fw = this.frameworks.get(task.frameworkId);
    if (terminal && !wasTerminal) {
      this.agents.get(task.info.agentId)?.tasks.delete(task.info.taskId);
      fw?.tasks.delete(task.info.taskId);
      this.allocator.recover(task.info.agentId, task.frameworkId, task.info.resources!, t, 0);
      this.allocateSoon(task.info.agentId);
    }
    if (fw && fw.status !== "INACTIVE") {
      fw.unacked.set(task.info.taskId, 0);
      this.sendUpdate(fw, task, t);
    } else if (terminal) {
      this.forgetLater(task);
    }
  }

  private sendUpdate(fw: FrameworkEntry, task: TaskEntry | undefined, t: number): void {
    if (!task) {
      return;
    }
    fw.unacked.set(task.info.taskId, t);
    fw.outbox.push(task.status);
    if (fw.outbox.length > 1) return;
    // The updates of one commit reach the framework in one event.
    this.store.afterCommit(() => {
      const [status, ...statuses] = fw.outbox.splice(0);
      if (status) fw.link?.send({ type: Event_Type.UPDATE, update: { status, statuses } });
    });
  }

  /** Keeps a bounded number of terminal tasks for operators; forgets the oldest. */
  private forgetLater(task: TaskEntry): void {
    this.finished.set(task.info.taskId, true);
    if (this.finished.size <= this.config.maxTerminalTasks) return;
    const oldest = this.finished.keys().next().value as string;
    this.finished.delete(oldest);
    this.tasks.delete(oldest);
    this.store.deleteTask(oldest);
  }

  // ---------------------------------------------------------------- frameworks

  subscribe(link: FrameworkLink, info: FrameworkInfo | undefined): string {
    if (!info) throw new InvalidArgumentError("framework_info", "is required");
    if (!info.name.trim()) throw new InvalidArgumentError("framework_info.name", "must not be empty");
    const role = roleOf(info);
    if (!/^(\*|[A-Za-z0-9][A-Za-z0-9._-]*)$/.test(role)) {
      throw new InvalidArgumentError("framework_info.role", `"${info.role}" is not a valid role name`);
    }
    if (!(info.failoverTimeoutSeconds >= 0)) {
      throw new InvalidArgumentError(
        "framework_info.failover_timeout_seconds",
        `${info.failoverTimeoutSeconds} must not be negative`,
      );
    }
    const t = now();
    let fw = info.id ? this.frameworks.get(info.id) : undefined;
    if (info.id && (!fw || fw.removing)) {
      throw new NotFoundError(
        `framework ${info.id} is unknown or was removed (torn down, or its failover timeout passed); subscribe without an id`,
      );
    }
    if (fw) {
      if (fw.link) {
        const old = fw.link;
        fw.link = undefined;
        old.end(Code.ABORTED, "superseded by a newer subscription of the same framework");
      }
      if (roleOf(fw.info) !== role) {
        throw new InvalidArgumentError(
          "framework_info.role",
          `cannot change from "${fw.info.role}" to "${info.role}"`,
        );
      }
      fw.info = { ...info, role };
    } else {
      const id = newId("fw");
      fw = {
        info: { ...info, id, role },
        status: "CONNECTED",
        registeredAt: t / 1000,
        disconnectedAtMs: 0,
        suppressed: false,
        lastHeartbeatMs: t,
        unacked: new Map(),
        tasks: new Set(),
        outbox: [],
        removing: false,
        forgotten: false,
      };
      this.frameworks.set(id, fw);
      this.allocator.addFramework({ id, role, active: true });
    }
    const entry = fw;
    const reconnected = info.id !== "";
    entry.status = "CONNECTED";
    entry.link = link;
    entry.lastHeartbeatMs = t;
    this.store.transaction(() => {
      this.store.putFramework({ ...entry, disconnectedAt: 0 });
      this.events.append({
        type: reconnected ? "FRAMEWORK_RESUBSCRIBED" : "FRAMEWORK_ADDED",
        frameworkId: entry.info.id,
        message: entry.info.name,
      });
    });
    link.send({
      type: Event_Type.SUBSCRIBED,
      subscribed: {
        frameworkId: entry.info.id,
        heartbeatIntervalSeconds: this.config.frameworkHeartbeatMs / 1000,
      },
    });
    this.allocator.setFrameworkActive(entry.info.id, true);
    for (const taskId of entry.unacked.keys()) this.sendUpdate(entry, this.tasks.get(taskId), t);
    this.log.info(reconnected ? "framework re-subscribed" : "framework subscribed", {
      framework: entry.info.id,
      name: entry.info.name,
      role,
    });
    for (const a of this.agents.values()) if (a.status === "ACTIVE") this.allocateSoon(a.info.id);
    return entry.info.id;
  }

  frameworkDisconnected(frameworkId: string, link: FrameworkLink): void {
    const fw = this.frameworks.get(frameworkId);
    if (!fw || fw.link !== link) return;
    fw.link = undefined;
    if (fw.status === "INACTIVE" || fw.removing) return;
    const t = now();
    fw.status = "DISCONNECTED";
    fw.disconnectedAtMs = t;
    this.allocator.setFrameworkActive(frameworkId, false);
    for (const o of this.offers.forFramework(frameworkId)) this.rescindOffer(o, "framework disconnected", t);
    this.store.transaction(() => {
      this.store.putFramework({ ...fw, disconnectedAt: t / 1000 });
      this.events.append({ type: "FRAMEWORK_DISCONNECTED", frameworkId });
    });
    this.log.warn("framework disconnected; waiting for it to fail over", {
      framework: frameworkId,
      failoverTimeoutSeconds: failoverSeconds(fw.info, this.config),
    });
  }

  private requireSubscribed(frameworkId: string): FrameworkEntry {
    if (!frameworkId) throw new InvalidArgumentError("framework_id", "is required");
    const fw = this.frameworks.get(frameworkId);
    if (!fw?.link || fw.removing) {
      throw new FailedPreconditionError(`framework ${frameworkId} is not subscribed`);
    }
    return fw;
  }

  accept(frameworkId: string, offerIds: string[], operations: Operation[], refuseSeconds?: number): string[] {
    const fw = this.requireSubscribed(frameworkId);
    const t = now();
    let plan: ReturnType<typeof validateAccept>;
    try {
      plan = validateAccept({
        frameworkId,
        offerIds,
        operations,
        lookupOffer: (id) => this.offers.get(id),
        taskIdInUse: (id) => this.tasks.has(id),
        agentExecutors: (id) => this.agents.get(id)?.info.executors,
      });
      this.checkTaskReleases(operations);
    } catch (err) {
      // Nothing of a rejected Accept is applied; the offers it named return to the pool now.
      for (const id of new Set(offerIds)) {
        const o = this.offers.get(id);
        if (o && o.frameworkId === frameworkId) {
          this.offers.remove(id);
          this.allocator.recover(o.agentId, o.frameworkId, o.resources, t, 0);
          this.allocateSoon(o.agentId);
        }
      }
      throw err;
    }
    const agent = this.agents.get(plan.agentId);
    for (const o of plan.offers) this.offers.remove(o.id);
    const refuse = refuseSeconds ?? this.config.defaultRefuseSeconds;
    if (!agent?.link) {
      for (const o of plan.offers) this.allocator.recover(o.agentId, frameworkId, o.resources, t, 0);
      throw new FailedPreconditionError(`agent ${plan.agentId} is not connected`);
    }
    if (!isEmptyResources(plan.unused))
      this.allocator.recover(plan.agentId, frameworkId, plan.unused, t, refuse);
    if (plan.tasks.length === 0) return [];
    const created: TaskEntry[] = [];
    this.store.transaction(() => {
      for (const info of plan.tasks) {
        const task: TaskEntry = {
          info,
          frameworkId,
          status: TaskStatus.fromPartial({
            taskId: info.taskId,
            state: TaskState.TASK_STAGING,
            agentId: info.agentId,
            frameworkId,
            timestamp: t / 1000,
            source: "master",
          }),
          acknowledged: true,
          killRequested: false,
          createdAt: t / 1000,
          seenUuids: [],
        };
        this.store.putTask(task, false, t / 1000);
        this.events.append({
          type: "TASK_ADDED",
          taskId: info.taskId,
          agentId: info.agentId,
          frameworkId,
          taskState: TaskState.TASK_STAGING,
        });
        created.push(task);
      }
    });
    const runTasks = [];
    for (const task of created) {
      this.tasks.set(task.info.taskId, task);
      agent.tasks.add(task.info.taskId);
      fw.tasks.add(task.info.taskId);
      const artifact = task.info.release ? this.releases?.artifactFor(task.info.release) : undefined;
      runTasks.push({ frameworkId, task: task.info, artifact });
    }
    // The tasks of one Accept go down the agent's stream in one message.
    agent.link.send({ batch: { runTasks, acks: [] } });
    this.counters.placements += created.length;
    if (!isEmptyResources(plan.unused)) this.allocateSoon(plan.agentId);
    return created.map((c) => c.info.taskId);
  }

  decline(frameworkId: string, offerIds: string[], refuseSeconds?: number): void {
    this.requireSubscribed(frameworkId);
    const t = now();
    for (const id of offerIds) {
      const o = this.offers.get(id);
      if (!o) continue; // already rescinded or expired: nothing to give back
      if (o.frameworkId !== frameworkId) {
        throw new FailedPreconditionError(`offer ${id} belongs to another framework`);
      }
    }
    for (const id of offerIds) {
      const o = this.offers.remove(id);
      if (!o) continue;
      this.allocator.recover(
        o.agentId,
        frameworkId,
        o.resources,
        t,
        refuseSeconds ?? this.config.defaultRefuseSeconds,
      );
      this.allocateSoon(o.agentId);
    }
  }

  kill(frameworkId: string, taskId: string, graceSeconds?: number): void {
    const fw = this.requireSubscribed(frameworkId);
    const task = this.tasks.get(taskId);
    if (!task || task.frameworkId !== frameworkId) throw new NotFoundError(`task ${taskId} not found`);
    if (isTerminal(task.status.state)) {
      fw.link?.send({
        type: Event_Type.UPDATE,
        update: { status: { ...task.status, uuid: "" }, statuses: [] },
      });
      return;
    }
    this.killTaskInternal(task, graceSeconds, Reason.KILL_REQUESTED);
  }

  private killTaskInternal(task: TaskEntry, graceSeconds: number | undefined, reason: string): void {
    if (!task.killRequested) {
      task.killRequested = true;
      this.store.updateTask(task, false, now() / 1000);
    }
    const agent = this.agents.get(task.info.agentId);
    if (agent?.link) {
      agent.link.send({
        killTask: {
          taskId: task.info.taskId,
          frameworkId: task.frameworkId,
          graceSeconds: graceSeconds ?? task.info.killGraceSeconds,
        },
      });
    } else if (agent?.status === "LOST" || !agent) {
      this.applyStatus(task, {
        state: TaskState.TASK_KILLED,
        reason,
        message: "killed while its agent was lost",
        source: "master",
      });
    }
    // A disconnected agent gets the kill when it re-registers (killRequested).
  }

  reconcile(frameworkId: string, taskIds: string[]): void {
    const fw = this.requireSubscribed(frameworkId);
    const send = (status: TaskStatus) =>
      fw.link?.send({
        type: Event_Type.UPDATE,
        update: { status: { ...status, uuid: "", source: "master" }, statuses: [] },
      });
    if (taskIds.length === 0) {
      for (const id of fw.tasks) send(this.tasks.get(id)!.status);
      for (const id of fw.unacked.keys()) if (!fw.tasks.has(id)) send(this.tasks.get(id)!.status);
      return;
    }
    for (const id of taskIds) {
      const task = this.tasks.get(id);
      if (task && task.frameworkId === frameworkId) send(task.status);
      else
        send(
          TaskStatus.fromPartial({
            taskId: id,
            frameworkId,
            state: TaskState.TASK_LOST,
            reason: Reason.TASK_UNKNOWN,
            message: "the master does not know this task",
            timestamp: now() / 1000,
          }),
        );
    }
  }

  acknowledge(frameworkId: string, taskId: string, uuid: string): void {
    const fw = this.requireSubscribed(frameworkId);
    if (!uuid) throw new InvalidArgumentError("uuid", "is required");
    const task = this.tasks.get(taskId);
    if (!task || task.frameworkId !== frameworkId) throw new NotFoundError(`task ${taskId} not found`);
    if (task.status.uuid !== uuid) return; // an older update: the newer one is still pending
    fw.unacked.delete(taskId);
    task.acknowledged = true;
    this.store.markAcknowledged(taskId, now() / 1000);
    if (isTerminal(task.status.state)) this.forgetLater(task);
  }

  /** Batched acknowledgements: each as if sent alone, except that unknown tasks are skipped. */
  acknowledgeBatch(frameworkId: string, acks: { taskId: string; uuid: string }[]): void {
    if (acks.length === 0) return;
    this.requireSubscribed(frameworkId);
    this.store.transaction(() => {
      for (const a of acks) {
        if (!a.uuid || !this.tasks.has(a.taskId)) continue;
        this.acknowledge(frameworkId, a.taskId, a.uuid);
      }
    });
  }

  suppress(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    fw.suppressed = true;
    this.allocator.suppress(frameworkId);
    const t = now();
    for (const o of this.offers.forFramework(frameworkId))
      this.rescindOffer(o, "framework suppressed offers", t);
    this.store.putFramework({ ...fw, disconnectedAt: 0 });
  }

  revive(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    fw.suppressed = false;
    this.allocator.revive(frameworkId);
    this.store.putFramework({ ...fw, disconnectedAt: 0 });
    for (const a of this.agents.values()) if (a.status === "ACTIVE") this.allocateSoon(a.info.id);
  }

  teardown(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    this.removeFramework(fw, "torn down");
    fw.link?.end(Code.CANCELLED, "framework torn down");
    fw.link = undefined;
  }

  /** Kills every task of the framework; it is forgotten once they have all ended. */
  private removeFramework(fw: FrameworkEntry, why: string): void {
    fw.removing = true;
    fw.status = "INACTIVE";
    const t = now();
    this.allocator.setFrameworkActive(fw.info.id, false);
    for (const o of this.offers.forFramework(fw.info.id)) this.rescindOffer(o, `framework ${why}`, t);
    this.store.transaction(() => {
      this.store.putFramework({ ...fw, status: "INACTIVE", disconnectedAt: t / 1000 });
      this.events.append({ type: "FRAMEWORK_REMOVED", frameworkId: fw.info.id, message: why });
    });
    for (const id of [...fw.tasks]) this.killTaskInternal(this.tasks.get(id)!, 0, Reason.FRAMEWORK_REMOVED);
    if (fw.tasks.size === 0) this.finishRemoval(fw);
  }

  private finishRemoval(fw: FrameworkEntry): void {
    fw.forgotten = true;
    fw.unacked.clear();
    this.allocator.removeFramework(fw.info.id);
    this.log.info("framework removed", { framework: fw.info.id });
  }

  // ---------------------------------------------------------------- operator

  drain(agentId: string, killAfterSeconds: number): AgentState {
    const agent = this.requireAgent(agentId);
    if (!(killAfterSeconds >= 0)) {
      throw new InvalidArgumentError("kill_after_seconds", `${killAfterSeconds} must not be negative`);
    }
    agent.draining = true;
    agent.drainKillAtMs = killAfterSeconds > 0 ? now() + killAfterSeconds * 1000 : undefined;
    this.allocator.setAgentDraining(agentId, true);
    const t = now();
    for (const o of this.offers.forAgent(agentId)) this.rescindOffer(o, "agent is draining", t);
    this.store.transaction(() => {
      this.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.events.append({ type: "AGENT_DRAINING", agentId });
    });
    return this.agentState(agent);
  }

  undrain(agentId: string): AgentState {
    const agent = this.requireAgent(agentId);
    agent.draining = false;
    agent.drainKillAtMs = undefined;
    this.allocator.setAgentDraining(agentId, false);
    this.store.transaction(() => {
      this.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.events.append({ type: "AGENT_UNDRAINED", agentId });
    });
    this.allocateSoon(agentId);
    return this.agentState(agent);
  }

  operatorKill(taskId: string, graceSeconds?: number): void {
    const task = this.tasks.get(taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (isTerminal(task.status.state)) {
      throw new FailedPreconditionError(`task ${taskId} has already ended (${TaskState[task.status.state]})`);
    }
    this.killTaskInternal(task, graceSeconds, Reason.KILL_REQUESTED);
  }

  /** Where a task's logs can be read: its agent's live link. */
  taskLogSource(taskId: string): { agentId: string; link: AgentLink; task: TaskInfo; terminal: boolean } {
    const task = this.tasks.get(taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    const agent = this.agents.get(task.info.agentId);
    if (!agent?.link) {
      throw new FailedPreconditionError(
        `the agent of task ${taskId} (${task.info.agentId}) is not connected`,
      );
    }
    return {
      agentId: agent.info.id,
      link: agent.link,
      task: task.info,
      terminal: isTerminal(task.status.state),
    };
  }

  private requireAgent(agentId: string): AgentEntry {
    if (!agentId) throw new InvalidArgumentError("agent_id", "is required");
    const agent = this.agents.get(agentId);
    if (!agent) throw new NotFoundError(`agent ${agentId} not found`);
    return agent;
  }

  agentStates(): AgentState[] {
    return [...this.agents.values()].map((a) => this.agentState(a));
  }

  private agentState(a: AgentEntry): AgentState {
    return agentView(a, this.allocator, this.offers);
  }

  frameworkStates(): FrameworkState[] {
    return [...this.frameworks.values()].map((f) => frameworkView(f, this.allocator, this.offers));
  }

  taskRecords(filter: TaskFilter): TaskRecord[] {
    return taskViews(this.tasks.values(), filter);
  }

  get startedAtSeconds(): number {
    return this.startedAt;
  }
}
