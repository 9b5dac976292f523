// The master's shared state and the mechanisms every part of it uses: the registry maps, the
// allocator and its offer cycle, task status delivery (record, commit, forward, forget) and
// kills. AgentSessions and FrameworkSessions act on it; Master (master.ts) composes them.
import { agentExecutors } from "../common/executors.js";
import { newUuid } from "../common/ids.js";
import { LIMITS, truncateUtf8 } from "../common/limits.js";
import { createLogger, type Logger } from "../common/logger.js";
import { type TaskKey, taskKey } from "../common/task-key.js";
import { canTransition, isTerminal, TaskState } from "../common/task-states.js";
import type { MasterMessage } from "../proto/gen/yard/v1/agent.js";
import { type AgentConditions, type Offer, TaskStatus } from "../proto/gen/yard/v1/common.js";
import { Event_Type } from "../proto/gen/yard/v1/scheduler.js";
import { Allocator } from "./allocator/allocator.js";
import { type OfferRecord, OfferBook } from "./allocator/offer-book.js";
import { EventLog } from "./event-log.js";
import { LogRelay } from "./log-relay.js";
import type { AgentStatusName, RegistryStore } from "./store/registry-store.js";
import { DEFAULT_MASTER_CONFIG, type MasterConfig, roleOf } from "./master-config.js";
import { PendingReports } from "./pending-reports.js";
import type { AgentEntry, FrameworkEntry, TaskEntry } from "./registry-entries.js";
import type { ReleaseHooks } from "./releases/release-hooks.js";
import { MasterRecorder, type RescindCause } from "./metrics/master-recorder.js";

export const now = () => Date.now();

export const NO_CONDITIONS: AgentConditions = { diskPressure: false, message: "" };

export class MasterCore {
  /** False once the master stops: late callbacks then do nothing. */
  running = false;
  readonly log: Logger;
  readonly agents = new Map<string, AgentEntry>();
  readonly frameworks = new Map<string, FrameworkEntry>();
  /** Every task the master knows, by (framework, task id): ids are unique per framework only. */
  readonly tasks = new Map<TaskKey, TaskEntry>();
  /** Terminal, acknowledged tasks, oldest first (Map keeps insertion order). */
  readonly finished = new Map<TaskKey, true>();
  readonly allocator: Allocator;
  readonly offers: OfferBook;
  readonly events: EventLog;
  readonly logs = new LogRelay();
  readonly dirtyAgents = new Set<string>();
  immediateScheduled = false;
  /** Durations of recent full cycles (all agents) and of immediate cycles (a few agents). */
  readonly cycleTimesMs = { full: [] as number[], immediate: [] as number[] };
  readonly counters = { placements: 0, offersSent: 0, statusUpdates: 0, cycles: 0 };
  /** Latency histograms and event counters (master/metrics/); its registry is served on /metrics. */
  readonly recorder: MasterRecorder;
  /** The release store (master/releases/), once the daemon attached it. */
  releases?: ReleaseHooks;
  /** What each framework reports waiting ("why pending", its half; pending-reports.ts). */
  readonly pending = new PendingReports();
  /** When each framework was last sent an offer (ms), for "why pending". */
  readonly lastOfferAtMs = new Map<string, number>();
  /** The cluster's id (master/cluster-identity.ts); "" for a registry that has none. */
  readonly clusterId: string;

  constructor(
    readonly store: RegistryStore,
    readonly config: MasterConfig = DEFAULT_MASTER_CONFIG,
    logger?: Logger,
  ) {
    this.log = logger ?? createLogger("master");
    this.recorder = new MasterRecorder(config.metricsRecording ?? true);
    this.clusterId = store.clusterId() ?? "";
    this.allocator = new Allocator({ defaultRefuseSeconds: config.defaultRefuseSeconds });
    this.offers = new OfferBook({ offerTimeoutMs: config.offerTimeoutMs });
    this.events = new EventLog(store, config.eventsKept);
    store.onGroupFailure = (err) =>
      this.log.error("committing status updates failed; agents will send them again", { err });
    for (const [role, opts] of Object.entries(config.roles)) this.allocator.setRole(role, opts);
    this.recover();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Rebuilds the in-memory registry from SQLite after a (re)start. */
  recover(): void {
    const t = now();
    for (const a of this.store.loadAgents()) {
      // Nobody is connected yet: agents have a fresh agent timeout from now to come back, and
      // unreachable ones a fresh gone timeout (the time the master was down is nobody's silence).
      const status: AgentStatusName =
        a.status === "LOST" || a.status === "UNREACHABLE" ? a.status : "DISCONNECTED";
      this.agents.set(a.info.id, {
        info: a.info,
        secretHash: a.secretHash,
        status,
        draining: a.draining,
        registeredAt: a.registeredAt,
        lastSeenMs: t,
        unreachableSinceMs: status === "UNREACHABLE" ? t : undefined,
        conditions: NO_CONDITIONS,
        tasks: new Set(),
        doomed: new Map(),
        ackOutbox: [],
      });
      this.allocator.addAgent({ id: a.info.id, total: a.info.resources!, draining: a.draining });
      this.allocator.setAgentActive(a.info.id, false);
    }
    for (const f of this.store.loadFrameworks()) {
      const entry: FrameworkEntry = {
        info: f.info,
        principal: f.principal,
        secretHash: f.secretHash,
        status: f.status === "INACTIVE" ? "INACTIVE" : "DISCONNECTED",
        registeredAt: f.registeredAt,
        disconnectedAtMs: f.status === "CONNECTED" ? t : f.disconnectedAt * 1000 || t,
        suppressed: f.suppressed,
        lastHeartbeatMs: 0,
        unacked: new Map(),
        tasks: new Set(),
        outbox: [],
        session: "",
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
      const key = keyOf(task);
      this.tasks.set(key, task);
      const fw = this.frameworks.get(task.frameworkId);
      if (isTerminal(task.status.state)) {
        if (task.acknowledged || !task.status.uuid) this.finished.set(key, true);
        else fw?.unacked.set(task.info.taskId, 0);
        continue;
      }
      if (task.status.uuid && !task.acknowledged) fw?.unacked.set(task.info.taskId, 0);
      fw?.tasks.add(task.info.taskId);
      const agent = this.agents.get(task.info.agentId);
      agent?.tasks.add(key);
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

  /** Connects the release store: fetch reports, cached artifacts, releases on tasks and offers. */
  attachReleases(hooks: ReleaseHooks): void {
    this.releases = hooks;
  }

  guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error(`${what} failed`, { err });
    }
  }

  // ---------------------------------------------------------------- allocation

  allocationTick(): void {
    const t = now();
    for (const offer of this.offers.expired(t)) this.rescindOffer(offer, "offer timed out", t, "timeout");
    const started = performance.now();
    const grants = this.allocator.allocate(t, (a, f) => this.offers.has(a, f));
    this.recordCycle(performance.now() - started, true);
    this.dirtyAgents.clear();
    this.sendGrants(grants, t);
  }

  /** Runs an allocation cycle for the given agent soon, without waiting for the batch tick. */
  allocateSoon(agentId: string): void {
    this.dirtyAgents.add(agentId);
    if (this.immediateScheduled) return;
    this.immediateScheduled = true;
    setImmediate(() => {
      this.immediateScheduled = false;
      if (this.dirtyAgents.size === 0 || !this.running) return;
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

  recordCycle(ms: number, full: boolean): void {
    this.counters.cycles++;
    this.recorder.cycle(full ? "full" : "immediate", ms);
    const list = full ? this.cycleTimesMs.full : this.cycleTimesMs.immediate;
    list.push(ms);
    if (list.length > 2000) list.splice(0, 1000);
  }

  cycleTimes(kind: "full" | "immediate"): number[] {
    return [...this.cycleTimesMs[kind]];
  }

  sendGrants(grants: ReturnType<Allocator["allocate"]>, t: number): void {
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
        // Always the full list, so that no framework has to guess what an empty one means.
        executors: agentExecutors(agent.info.executors),
        releases: this.releases?.releasesHeldBy(g.agentId) ?? [],
      });
    }
    for (const [fwId, offers] of byFramework) {
      this.counters.offersSent += offers.length;
      const fw = this.frameworks.get(fwId)!;
      fw.lastOfferMs = t;
      this.lastOfferAtMs.set(fwId, t);
      fw.link!.send({ type: Event_Type.OFFERS, offers: { offers } });
    }
  }

  rescindOffer(offer: OfferRecord, reason: string, t: number, cause: RescindCause): void {
    this.offers.remove(offer.id);
    this.recorder.offerRescinded(cause);
    this.allocator.recover(offer.agentId, offer.frameworkId, offer.resources, t, 0);
    this.frameworks.get(offer.frameworkId)?.link?.send({
      type: Event_Type.RESCIND,
      rescind: { offerId: offer.id, reason },
    });
    this.allocateSoon(offer.agentId);
  }

  /** Sends down an agent's stream; false when the agent is not connected. */
  sendToAgent(agentId: string, msg: MasterMessage): boolean {
    const link = this.agents.get(agentId)?.link;
    if (!link) return false;
    link.send(msg);
    return true;
  }

  /** The task `taskId` of framework `frameworkId`, if the master knows it. */
  task(frameworkId: string, taskId: string): TaskEntry | undefined {
    return this.tasks.get(taskKey(frameworkId, taskId));
  }

  /** A task the registry holds by construction (a framework's or an agent's own set). */
  knownTask(key: TaskKey): TaskEntry {
    const task = this.tasks.get(key);
    if (!task) throw new Error(`registry out of step: task ${key} is in a set but not in the task map`);
    return task;
  }

  /** The non-terminal tasks that run `release` (NAME@VERSION), as FRAMEWORK/TASK keys. */
  tasksUsingRelease(release: string): string[] {
    const out: string[] = [];
    for (const [key, t] of this.tasks) {
      if (t.info.release === release && !isTerminal(t.status.state)) out.push(key);
    }
    return out;
  }

  /**
   * Records a task's new state, returns its resources when it ends, and forwards it to the
   * framework. Master-made updates get a uuid so that they too are delivered reliably. Every
   * status the master stores goes through here, so this is where a terminal state is kept
   * final (canTransition): returns false, storing and sending nothing, for an update that
   * would change it.
   */
  applyStatus(task: TaskEntry, update: Partial<TaskStatus> & { state: TaskState }): boolean {
    if (!canTransition(task.status.state, update.state)) {
      this.log.debug("update dropped: the task has ended", {
        task: task.info.taskId,
        state: task.status.state,
        update: update.state,
      });
      return false;
    }
    const t = now();
    if (update.state === TaskState.TASK_RUNNING && task.status.state !== TaskState.TASK_RUNNING) {
      if (task.acceptedAtMs !== undefined) this.recorder.taskRunning(task.acceptedAtMs, t);
    }
    task.statusAtMs = t;
    task.status = TaskStatus.fromPartial({
      ...update,
      // An update without a verdict (the master's own: LOST, UNREACHABLE...) keeps the last one
      // the agent sent: the last known health, which the state qualifies.
      health: update.health ?? task.status.health,
      taskId: task.info.taskId,
      agentId: task.info.agentId,
      frameworkId: task.frameworkId,
      uuid: update.uuid || newUuid(),
      timestamp: update.timestamp || t / 1000,
      // Bounded before it is stored, kept in memory and forwarded: an agent's message can
      // carry a whole command line or a stack of output.
      message: truncateUtf8(update.message ?? "", LIMITS.statusMessageBytes),
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
    if (terminal) {
      this.agents.get(task.info.agentId)?.tasks.delete(keyOf(task));
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
    return true;
  }

  sendUpdate(fw: FrameworkEntry, task: TaskEntry | undefined, t: number): void {
    if (!task) {
      return;
    }
    fw.unacked.set(task.info.taskId, t);
    fw.outbox.push(task.status);
    if (fw.outbox.length > 1) return;
    // The updates of one commit reach the framework in one event.
    this.store.afterCommit(() => {
      const [status, ...statuses] = fw.outbox.splice(0);
      if (status) fw.link?.send({ type: Event_Type.UPDATE, update: { status, statuses } }, true);
    });
  }

  /** Keeps a bounded number of terminal tasks for operators; forgets the oldest. */
  forgetLater(task: TaskEntry): void {
    this.finished.set(keyOf(task), true);
    if (this.finished.size <= this.config.maxTerminalTasks) return;
    const oldest = this.finished.keys().next().value as TaskKey;
    this.finished.delete(oldest);
    const gone = this.tasks.get(oldest);
    this.tasks.delete(oldest);
    if (gone) this.store.deleteTask(gone.frameworkId, gone.info.taskId);
  }

  killTaskInternal(task: TaskEntry, graceSeconds: number | undefined, reason: string): void {
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
    // A disconnected or unreachable agent gets the kill when it re-registers (killRequested).
  }
}

/** The registry key of a task entry. */
export function keyOf(task: { frameworkId: string; info: { taskId: string } }): TaskKey {
  return taskKey(task.frameworkId, task.info.taskId);
}
