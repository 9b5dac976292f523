// The agents' side of the master: registration and re-registration (with reconciliation and
// the agent secret that proves an id), heartbeats, status updates from agents, disconnects
// and loss.
import { createHash, randomBytes } from "node:crypto";
import { sameSecret } from "../common/auth.js";
import { newId } from "../common/ids.js";
import { Reason } from "../common/reasons.js";
import { canTransition, isTerminal, TaskState } from "../common/task-states.js";
import type { AgentMessage, Register, RunningTask } from "../proto/gen/yard/v1/agent.js";
import type { AgentInfo, TaskStatus, TaskUsage } from "../proto/gen/yard/v1/common.js";
import { Event_Type } from "../proto/gen/yard/v1/scheduler.js";
import type { AgentLink } from "./links.js";
import { validateRegistration } from "./registration-check.js";
import type { AgentEntry } from "./registry-entries.js";

import { type MasterCore, now } from "./master-core.js";

export class AgentSessions {
  constructor(private readonly core: MasterCore) {}

  // ---------------------------------------------------------------- agents

  /** Handles the first message of an agent's stream. Returns the refusal, if any. */
  registerAgent(link: AgentLink, reg: Register): { agentId: string } | { refused: string; message: string } {
    const problem = validateRegistration(reg);
    if (problem) return { refused: "BAD_REGISTRATION", message: problem };
    // Before the agent id: an agent of another cluster must not hear STALE_AGENT, which
    // makes it kill its tasks.
    const cluster = this.core.clusterId;
    if (reg.clusterId && cluster && reg.clusterId !== cluster) {
      return {
        refused: "WRONG_CLUSTER",
        message: `the agent belongs to cluster ${reg.clusterId}, this master to cluster ${cluster}; it keeps its tasks and acts on nothing until it faces a master of its cluster`,
      };
    }
    const t = now();
    const info: AgentInfo = { ...reg.info!, id: reg.agentId || newId("agent") };
    let agent = reg.agentId ? this.core.agents.get(reg.agentId) : undefined;
    if (reg.agentId && !agent) {
      return {
        refused: "STALE_AGENT",
        message: `agent id ${reg.agentId} is unknown to this master; register as a new agent`,
      };
    }
    if (agent?.link) {
      return { refused: "DUPLICATE_AGENT", message: `agent ${reg.agentId} is already connected` };
    }
    // An agent registered before secrets existed has none on record: it gets one now.
    if (agent?.secretHash && !sameSecret(hashSecret(reg.agentSecret), agent.secretHash)) {
      return {
        refused: "UNAUTHENTICATED",
        message: `agent ${reg.agentId}: the agent secret does not match the one issued to this id`,
      };
    }
    const reregistered = agent !== undefined;
    // A new agent gets the secret that proves its id from now on; the master keeps its hash.
    const secret = reregistered && agent?.secretHash ? "" : randomBytes(24).toString("base64url");
    this.core.store.transaction(() => {
      if (!agent) {
        agent = {
          info,
          secretHash: hashSecret(secret),
          status: "ACTIVE",
          draining: false,
          registeredAt: t / 1000,
          lastSeenMs: t,
          tasks: new Set(),
          ackOutbox: [],
        };
        this.core.agents.set(info.id, agent);
        this.core.events.append({ type: "AGENT_ADDED", agentId: info.id, message: info.hostname });
      } else {
        for (const o of this.core.offers.forAgent(info.id)) this.core.offers.remove(o.id);
        this.core.allocator.removeAgent(info.id);
        agent.info = info;
        if (secret) agent.secretHash = hashSecret(secret);
        agent.status = "ACTIVE";
        agent.lastSeenMs = t;
        this.core.events.append({ type: "AGENT_REREGISTERED", agentId: info.id, message: info.hostname });
      }
      agent.link = link;
      this.core.store.putAgent({ ...agent, lastSeen: t / 1000 });
    });
    const a = agent!;
    // The agent must hear that it is registered before any reconciliation kill arrives.
    link.send({
      registered: {
        agentId: info.id,
        heartbeatIntervalSeconds: this.core.config.agentHeartbeatMs / 1000,
        agentSecret: secret,
        clusterId: this.core.clusterId,
      },
    });
    if (reregistered) {
      this.core.allocator.addAgent({ id: info.id, total: info.resources!, draining: a.draining });
      this.reconcileAgent(a, reg.tasks);
    } else {
      this.core.allocator.addAgent({ id: info.id, total: info.resources!, draining: false });
    }
    this.core.log.info(reregistered ? "agent re-registered" : "agent registered", {
      agent: info.id,
      hostname: info.hostname,
      tasks: reg.tasks.length,
    });
    // After `registered`: fetch commands for the releases staged on it and not held.
    this.core.guard("release bookkeeping", () => this.core.releases?.agentRegistered(info.id, reg.artifacts));
    this.core.allocateSoon(info.id);
    return { agentId: info.id };
  }

  /** Matches what a returning agent runs with what the master knows (docs/protocol.md §9). */
  private reconcileAgent(agent: AgentEntry, running: RunningTask[]): void {
    const reported = new Map(running.filter((r) => r.task).map((r) => [r.task!.taskId, r]));
    for (const taskId of [...agent.tasks]) {
      if (reported.has(taskId)) continue;
      const task = this.core.tasks.get(taskId)!;
      this.core.applyStatus(task, {
        state: TaskState.TASK_LOST,
        reason: Reason.TASK_GONE,
        message: "the agent came back without this task",
        source: "master",
      });
    }
    for (const [taskId, r] of reported) {
      const task = this.core.tasks.get(taskId);
      const fw = this.core.frameworks.get(r.frameworkId);
      if (!task || isTerminal(task.status.state) || !fw || fw.removing || task.killRequested) {
        this.core.log.info("killing a task the cluster no longer wants", {
          agent: agent.info.id,
          task: taskId,
        });
        agent.link?.send({ killTask: { taskId, frameworkId: r.frameworkId, graceSeconds: 0 } });
        continue;
      }
      if (task.info.agentId === agent.info.id) {
        agent.tasks.add(taskId);
        this.core.allocator.addUsed(agent.info.id, task.frameworkId, task.info.resources!);
      }
    }
  }

  agentMessage(agentId: string, link: AgentLink, msg: AgentMessage): void {
    const agent = this.core.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.lastSeenMs = now();
    if (msg.status?.status) this.agentStatus(agent, msg.status.status);
    for (const u of msg.batch?.statuses ?? []) if (u.status) this.agentStatus(agent, u.status);
    if (msg.usage) {
      for (const u of msg.usage.tasks) {
        const task = this.core.tasks.get(u.taskId);
        if (task) task.usage = u as TaskUsage;
      }
    }
    if (msg.logData) this.core.logs.deliver(msg.logData);
    const progress = msg.fetchProgress;
    if (progress)
      this.core.guard("fetch progress", () => this.core.releases?.fetchProgress(agentId, progress));
  }

  agentDisconnected(agentId: string, link: AgentLink): void {
    const agent = this.core.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.link = undefined;
    this.core.logs.failAgent(agentId, "the agent disconnected");
    if (agent.status === "LOST") return;
    agent.status = "DISCONNECTED";
    this.core.store.transaction(() => {
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_DISCONNECTED", agentId });
    });
    this.core.allocator.setAgentActive(agentId, false);
    const t = now();
    for (const o of this.core.offers.forAgent(agentId)) this.core.rescindOffer(o, "agent disconnected", t);
    this.core.log.warn("agent disconnected", { agent: agentId });
  }

  agentLost(agent: AgentEntry, t: number): void {
    this.core.log.warn("agent lost: no message within the timeout", {
      agent: agent.info.id,
      timeoutMs: this.core.config.agentTimeoutMs,
    });
    for (const o of this.core.offers.forAgent(agent.info.id)) this.core.rescindOffer(o, "agent lost", t);
    this.core.allocator.setAgentActive(agent.info.id, false);
    this.core.store.transaction(() => {
      agent.status = "LOST";
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_LOST", agentId: agent.info.id });
      for (const taskId of [...agent.tasks]) {
        this.core.applyStatus(this.core.tasks.get(taskId)!, {
          state: TaskState.TASK_LOST,
          reason: Reason.AGENT_LOST,
          message: `agent ${agent.info.id} (${agent.info.hostname}) was lost`,
          source: "master",
        });
      }
    });
    agent.link?.close();
    agent.link = undefined;
    for (const fw of this.core.frameworks.values()) {
      fw.link?.send({
        type: Event_Type.FAILURE,
        failure: { agentId: agent.info.id, message: `agent ${agent.info.hostname} was lost` },
      });
    }
  }

  private agentStatus(agent: AgentEntry, status: TaskStatus): void {
    const task = this.core.tasks.get(status.taskId);
    this.core.store.beginGroup();
    // The agent stops resending an update once acked, so ack only what is committed; the
    // acks of one commit go down in one message.
    const ack = () => {
      if (!status.uuid) return;
      agent.ackOutbox.push({ taskId: status.taskId, uuid: status.uuid, frameworkId: status.frameworkId });
      if (agent.ackOutbox.length > 1) return;
      this.core.store.afterCommit(() => {
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
    this.core.counters.statusUpdates++;
    if (status.uuid) {
      task.seenUuids.push(status.uuid);
      if (task.seenUuids.length > 8) task.seenUuids.shift();
    }
    if (canTransition(task.status.state, status.state))
      this.core.applyStatus(task, { ...status, source: "agent" });
    ack();
  }
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
