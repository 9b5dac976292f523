// The master: composes its shared core, the agents' side and the frameworks' side; runs the
// timers (allocation cycle, maintenance: agent and framework timeouts, drains, retries) and
// answers the operator. Every state change is written to SQLite in one transaction before
// anyone is told about it.
import { status as Code } from "@grpc/grpc-js";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { Reason } from "../common/reasons.js";
import { OpenStreams } from "../common/stream-writer.js";
import { isTerminal, TaskState } from "../common/task-states.js";
import type { MasterMessage } from "../proto/gen/yard/v1/agent.js";
import type { TaskInfo } from "../proto/gen/yard/v1/common.js";
import type {
  AgentState,
  ExplainRequest,
  Explanation,
  FrameworkState,
  TaskRecord,
} from "../proto/gen/yard/v1/operator.js";
import { explain } from "./explain.js";
import { Event_Type } from "../proto/gen/yard/v1/scheduler.js";
import type { EventLog } from "./event-log.js";
import type { AgentLink } from "./links.js";
import type { LogRelay } from "./log-relay.js";
import type { RegistryStore } from "./store/registry-store.js";
import { DEFAULT_MASTER_CONFIG, failoverSeconds, type MasterConfig } from "./master-config.js";
import { findOperatorTask } from "./operator-task.js";
import { agentView, frameworkView, type TaskFilter, taskViews } from "./operator-views.js";
import type { AgentEntry, TaskEntry } from "./registry-entries.js";
import { agentVerdict, stallMs } from "./agent-liveness.js";
import type { ReleaseHooks } from "./releases/release-hooks.js";

import { MasterCore, now } from "./master-core.js";
import { registerStateGauges } from "./metrics/state-gauges.js";
import type { Registry } from "prom-client";
import { AgentSessions } from "./agent-sessions.js";
import { FrameworkSessions } from "./framework-sessions.js";

export { DEFAULT_MASTER_CONFIG, type MasterConfig };

/** Period of the maintenance tick (timeouts, drains, update retries). */
const MAINTENANCE_MS = 500;

export class Master {
  private timers: NodeJS.Timeout[] = [];
  /** When the maintenance tick last ran, to notice the master's own stalls. */
  private lastMaintenanceMs = now();
  private readonly startedAt = now() / 1000;
  /** Set by detach(): the streams' late messages are dropped. */
  private detached = false;

  readonly core: MasterCore;
  readonly agents: AgentSessions;
  readonly frameworks: FrameworkSessions;
  /** Operator and framework streams open now; stop() ends them. */
  readonly streams = new OpenStreams();

  constructor(store: RegistryStore, config: MasterConfig = DEFAULT_MASTER_CONFIG, logger?: Logger) {
    this.core = new MasterCore(store, config, logger);
    this.agents = new AgentSessions(this.core);
    this.frameworks = new FrameworkSessions(this.core);
    registerStateGauges(this.core.recorder.registry, this);
  }

  get config(): MasterConfig {
    return this.core.config;
  }

  get events(): EventLog {
    return this.core.events;
  }

  get logs(): LogRelay {
    return this.core.logs;
  }

  get counters(): MasterCore["counters"] {
    return this.core.counters;
  }

  cycleTimes(kind: "full" | "immediate"): number[] {
    return this.core.cycleTimes(kind);
  }

  /**
   * Runs `fn` once everything written so far is durable (at once when nothing is pending);
   * never if that write fails or this master's writes are fenced off. Replies and messages
   * that tell of a change go through it.
   */
  afterCommit(fn: () => void): void {
    // A stopping master ends its streams at once: they must not wait for a commit that a
    // fenced (or unreachable) registry may never make.
    if (this.stopping) fn();
    else this.core.store.afterCommit(fn);
  }

  /** Set by stop(): links close at once (afterCommit). */
  private stopping = false;

  attachReleases(hooks: ReleaseHooks): void {
    this.core.attachReleases(hooks);
  }

  sendToAgent(agentId: string, msg: MasterMessage): boolean {
    return this.core.sendToAgent(agentId, msg);
  }

  tasksUsingRelease(release: string): string[] {
    return this.core.tasksUsingRelease(release);
  }

  // ---------------------------------------------------------------- the gRPC shells' entry points

  registerAgent(...args: Parameters<AgentSessions["registerAgent"]>) {
    return this.agents.registerAgent(...args);
  }

  agentMessage(...args: Parameters<AgentSessions["agentMessage"]>): void {
    if (this.detached) return;
    this.agents.agentMessage(...args);
  }

  agentDisconnected(...args: Parameters<AgentSessions["agentDisconnected"]>): void {
    if (this.detached) return;
    this.agents.agentDisconnected(...args);
  }

  subscribe(...args: Parameters<FrameworkSessions["subscribe"]>): string {
    return this.frameworks.subscribe(...args);
  }

  checkSession(frameworkId: string, session: string, principal?: string): void {
    this.frameworks.checkSession(frameworkId, session, principal);
  }

  frameworkDisconnected(...args: Parameters<FrameworkSessions["frameworkDisconnected"]>): void {
    if (this.detached) return;
    this.frameworks.frameworkDisconnected(...args);
  }

  accept(...args: Parameters<FrameworkSessions["accept"]>): string[] {
    return this.frameworks.accept(...args);
  }

  decline(...args: Parameters<FrameworkSessions["decline"]>): void {
    this.frameworks.decline(...args);
  }

  kill(...args: Parameters<FrameworkSessions["kill"]>): void {
    this.frameworks.kill(...args);
  }

  reconcile(...args: Parameters<FrameworkSessions["reconcile"]>): void {
    this.frameworks.reconcile(...args);
  }

  acknowledge(...args: Parameters<FrameworkSessions["acknowledge"]>): void {
    this.frameworks.acknowledge(...args);
  }

  acknowledgeBatch(...args: Parameters<FrameworkSessions["acknowledgeBatch"]>): void {
    this.frameworks.acknowledgeBatch(...args);
  }

  reportPending(...args: Parameters<FrameworkSessions["reportPending"]>): void {
    this.frameworks.reportPending(...args);
  }

  publishEvents(...args: Parameters<FrameworkSessions["publishEvents"]>): void {
    this.frameworks.publishEvents(...args);
  }

  /** Why work waits, at both levels (explain.ts). */
  explain(req: ExplainRequest): Explanation {
    return explain(this.core, req, now(), (taskId, frameworkId) => this.operatorTask(taskId, frameworkId));
  }

  /** Every unit of work the frameworks report waiting, with why (the web UI's tasks page). */
  pendingWork(): ReturnType<MasterCore["pending"]["all"]> {
    return this.core.pending.all();
  }

  suppress(frameworkId: string): void {
    this.frameworks.suppress(frameworkId);
  }

  revive(frameworkId: string): void {
    this.frameworks.revive(frameworkId);
  }

  teardown(frameworkId: string): void {
    this.frameworks.teardown(frameworkId);
  }

  start(): void {
    this.core.running = true;
    this.timers.push(
      setInterval(
        () => this.core.guard("allocation", () => this.core.allocationTick()),
        this.core.config.allocationIntervalMs,
      ),
    );
    this.lastMaintenanceMs = now();
    this.timers.push(
      setInterval(() => this.core.guard("maintenance", () => this.maintenanceTick()), MAINTENANCE_MS),
    );
    for (const t of this.timers) t.unref();
  }

  /**
   * A master in HA mode that lost its leadership: it stops like stop(), and the messages and
   * disconnections its open streams still deliver are ignored. It must not write: another
   * master leads from the registry as it was, the agents and frameworks re-register there,
   * and its registry refuses fenced writes anyway (master/ha/).
   */
  detach(details: string): void {
    this.detached = true;
    this.stop(details);
  }

  stop(details = "master is shutting down"): void {
    this.stopping = true;
    this.core.running = false;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    for (const a of this.core.agents.values()) a.link?.close();
    for (const f of this.core.frameworks.values()) f.link?.end(Code.UNAVAILABLE, details);
    this.streams.endAll(details);
  }

  // ---------------------------------------------------------------- maintenance

  private maintenanceTick(): void {
    const t = now();
    // After SIGCONT (or any stall) timers run before the sockets are read: the agents'
    // heartbeats of the stall are still unread, so their silence is the master's own.
    const stalled = stallMs(this.lastMaintenanceMs, t, MAINTENANCE_MS, this.core.config.agentTimeoutMs);
    this.lastMaintenanceMs = t;
    if (stalled > 0) this.agents.graceAfterStall(t, stalled);
    for (const agent of this.core.agents.values()) {
      const verdict = agentVerdict(agent, t, this.core.config);
      if (verdict === "unreachable") this.agents.agentUnreachable(agent, t);
      else if (verdict === "gone") this.agents.agentGone(agent, t);
      if (agent.drainKillAtMs !== undefined && t >= agent.drainKillAtMs) {
        agent.drainKillAtMs = undefined;
        for (const key of agent.tasks)
          this.core.killTaskInternal(this.core.knownTask(key), undefined, Reason.AGENT_DRAINED);
      }
    }
    for (const fw of this.core.frameworks.values()) {
      if (fw.status === "DISCONNECTED" && !fw.removing) {
        const timeout = failoverSeconds(fw.info, this.core.config) * 1000;
        if (t - fw.disconnectedAtMs > timeout) {
          this.core.log.warn("framework did not come back within its failover timeout", {
            framework: fw.info.id,
          });
          this.frameworks.removeFramework(fw, "failover timeout passed");
        }
      }
      if (fw.link) {
        if (t - fw.lastHeartbeatMs >= this.core.config.frameworkHeartbeatMs) {
          fw.lastHeartbeatMs = t;
          fw.link.send({ type: Event_Type.HEARTBEAT });
        }
        for (const [taskId, sentAt] of fw.unacked) {
          if (t - sentAt >= this.core.config.updateRetryMs)
            this.core.sendUpdate(fw, this.core.task(fw.info.id, taskId), t);
        }
      }
      if (fw.removing && fw.tasks.size === 0 && !fw.forgotten) this.frameworks.finishRemoval(fw);
    }
  }

  // ---------------------------------------------------------------- operator

  drain(agentId: string, killAfterSeconds: number): AgentState {
    const agent = this.requireAgent(agentId);
    if (!(killAfterSeconds >= 0)) {
      throw new InvalidArgumentError("kill_after_seconds", `${killAfterSeconds} must not be negative`);
    }
    agent.draining = true;
    agent.drainKillAtMs = killAfterSeconds > 0 ? now() + killAfterSeconds * 1000 : undefined;
    this.core.allocator.setAgentDraining(agentId, true);
    const t = now();
    for (const o of this.core.offers.forAgent(agentId))
      this.core.rescindOffer(o, "agent is draining", t, "drain");
    this.core.store.transaction(() => {
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_DRAINING", agentId });
    });
    return this.agentState(agent);
  }

  undrain(agentId: string): AgentState {
    const agent = this.requireAgent(agentId);
    agent.draining = false;
    agent.drainKillAtMs = undefined;
    this.core.allocator.setAgentDraining(agentId, false);
    this.core.store.transaction(() => {
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_UNDRAINED", agentId });
    });
    this.core.allocateSoon(agentId);
    return this.agentState(agent);
  }

  /**
   * The task an operator names: by id, and by framework when given (KillTaskRequest and
   * GetTaskLogsRequest carry framework_id). Task ids are unique per framework only, so a bare
   * id that several frameworks use is refused rather than guessed (operator-task.ts).
   */
  private operatorTask(taskId: string, frameworkId = ""): TaskEntry {
    const one = frameworkId ? this.core.task(frameworkId, taskId) : undefined;
    // Named with its framework: one lookup; a bare id: every task of that id, of any framework.
    const candidates = frameworkId ? (one ? [one] : []) : this.core.tasks.values();
    return findOperatorTask(candidates, taskId, frameworkId, (id) => this.core.frameworks.get(id)?.info.name);
  }

  operatorKill(taskId: string, graceSeconds?: number, frameworkId = ""): void {
    const task = this.operatorTask(taskId, frameworkId);
    if (isTerminal(task.status.state)) {
      throw new FailedPreconditionError(`task ${taskId} has already ended (${TaskState[task.status.state]})`);
    }
    this.core.killTaskInternal(task, graceSeconds, Reason.KILL_REQUESTED);
  }

  /** Where a task's logs can be read: its agent's live link. */
  taskLogSource(
    taskId: string,
    frameworkId = "",
  ): { agentId: string; link: AgentLink; task: TaskInfo; frameworkId: string; terminal: boolean } {
    const task = this.operatorTask(taskId, frameworkId);
    const agent = this.core.agents.get(task.info.agentId);
    if (!agent?.link) {
      throw new FailedPreconditionError(
        `the agent of task ${taskId} (${task.info.agentId}) is not connected`,
      );
    }
    return {
      agentId: agent.info.id,
      link: agent.link,
      task: task.info,
      frameworkId: task.frameworkId,
      terminal: isTerminal(task.status.state),
    };
  }

  private requireAgent(agentId: string): AgentEntry {
    if (!agentId) throw new InvalidArgumentError("agent_id", "is required");
    const agent = this.core.agents.get(agentId);
    if (!agent) throw new NotFoundError(`agent ${agentId} not found`);
    return agent;
  }

  /**
   * Whether an agent still belongs to the private swarm: registered and not LOST (a lost
   * agent that comes back registers again first).
   */
  isSwarmMember(agentId: string): boolean {
    const agent = this.core.agents.get(agentId);
    return agent !== undefined && agent.status !== "LOST";
  }

  agentStates(): AgentState[] {
    return [...this.core.agents.values()].map((a) => this.agentState(a));
  }

  private agentState(a: AgentEntry): AgentState {
    return agentView(a, this.core.allocator, this.core.offers);
  }

  frameworkStates(): FrameworkState[] {
    return [...this.core.frameworks.values()].map((f) =>
      frameworkView(f, this.core.allocator, this.core.offers),
    );
  }

  taskRecords(filter: TaskFilter): TaskRecord[] {
    return taskViews(this.core.tasks.values(), filter);
  }

  activeTaskCount(): number {
    let n = 0;
    for (const t of this.core.tasks.values()) if (!isTerminal(t.status.state)) n++;
    return n;
  }

  /** See MasterStateView.offerStarvation (master/metrics/state-gauges.ts). */
  offerStarvation(nowMs: number): { frameworkId: string; name: string; seconds: number }[] {
    const out = [];
    for (const f of this.core.frameworks.values()) {
      if (!f.link || f.suppressed || f.removing) continue;
      const holds = this.core.offers.forFramework(f.info.id).length > 0;
      const since = f.lastOfferMs ?? nowMs;
      out.push({
        frameworkId: f.info.id,
        name: f.info.name,
        seconds: holds ? 0 : Math.max(0, nowMs - since) / 1000,
      });
    }
    return out;
  }

  fetchDone(bytes: number, seconds: number): void {
    this.core.recorder.stagingDone(bytes, seconds);
  }

  /** The master's Prometheus registry: the recorder's series and the gauges read from state. */
  get metricsRegistry(): Registry {
    return this.core.recorder.registry;
  }

  get startedAtSeconds(): number {
    return this.startedAt;
  }
}
