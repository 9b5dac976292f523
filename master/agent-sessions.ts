// The agents' side of the master: registration and re-registration (with reconciliation and
// the agent secret that proves an id), heartbeats, status updates from agents, disconnects
// and loss.
import { createHash, randomBytes } from "node:crypto";
import { sameSecret } from "../common/auth.js";
import { newId } from "../common/ids.js";
import { Reason } from "../common/reasons.js";
import { type TaskKey, taskKey } from "../common/task-key.js";
import { isTerminal, TaskState } from "../common/task-states.js";
import type { AgentMessage, Register, RunningTask } from "../proto/gen/yard/v1/agent.js";
import type { AgentConditions, AgentInfo, TaskStatus, TaskUsage } from "../proto/gen/yard/v1/common.js";
import { Event_Type } from "../proto/gen/yard/v1/scheduler.js";
import { freshClock } from "./agent-liveness.js";
import type { AgentLink } from "./links.js";
import { agentHeartbeatMs } from "./master-config.js";
import { validateRegistration } from "./registration-check.js";
import type { AgentEntry } from "./registry-entries.js";

import { type MasterCore, NO_CONDITIONS, now } from "./master-core.js";

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
          conditions: NO_CONDITIONS,
          tasks: new Set(),
          doomed: new Map(),
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
        agent.unreachableSinceMs = undefined;
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
        heartbeatIntervalSeconds: agentHeartbeatMs(this.core.config) / 1000,
        agentSecret: secret,
        clusterId: this.core.clusterId,
        swarmKey: Buffer.alloc(0),
        swarmPasskey: "",
        ...this.core.releases?.swarmCredentials(info.id),
      },
    });
    if (reregistered) {
      this.core.allocator.addAgent({ id: info.id, total: info.resources!, draining: a.draining });
      this.reconcileAgent(a, reg.tasks);
    } else {
      this.core.allocator.addAgent({ id: info.id, total: info.resources!, draining: false });
    }
    a.conditions = NO_CONDITIONS;
    this.setConditions(a, reg.conditions);
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

  /**
   * Matches what a returning agent reports with what the master knows (docs/protocol.md §9).
   * Runs between the agent's return to the allocator and the first offer on it, so every
   * process the agent still runs is counted as allocated before anything is offered there.
   */
  private reconcileAgent(agent: AgentEntry, running: RunningTask[]): void {
    const reported = new Map(
      running.filter((r) => r.task).map((r) => [taskKey(r.frameworkId, r.task!.taskId), r]),
    );
    const agentId = agent.info.id;
    agent.doomed.clear();
    for (const key of [...agent.tasks]) {
      if (reported.has(key)) continue;
      const task = this.core.knownTask(key);
      this.core.applyStatus(task, {
        state: TaskState.TASK_LOST,
        reason: Reason.TASK_GONE,
        message: "the agent came back without this task",
        source: "master",
      });
    }
    for (const [key, r] of reported) {
      const taskId = r.task!.taskId;
      const task = this.core.tasks.get(key);
      const endedThere = isTerminal(r.state);
      if (task && task.info.agentId === agentId && !isTerminal(task.status.state)) {
        // One of the master's live tasks: it counts until its terminal update arrives (for a
        // task that ended while the agent was away, that update follows the registration).
        agent.tasks.add(key);
        this.core.allocator.addUsed(agentId, task.frameworkId, task.info.resources!);
        if (endedThere) continue;
        const fw = this.core.frameworks.get(task.frameworkId);
        if (!fw || fw.removing || task.killRequested) {
          this.killOnAgent(
            agent,
            taskId,
            task.frameworkId,
            "its kill was requested while the agent was away",
          );
          continue;
        }
        if (task.status.state === TaskState.TASK_UNREACHABLE) {
          this.core.applyStatus(task, {
            state: r.state,
            reason: Reason.AGENT_REREGISTERED,
            message: `agent ${agent.info.hostname} is reachable again`,
            source: "master",
          });
        }
        continue;
      }
      if (endedThere) continue; // nothing runs; its update is acknowledged and dropped
      // Ended for the master (declared lost while the agent was gone), or unknown to it: the
      // framework was told it is over and has likely replaced it, so it must not run on.
      this.killOnAgent(agent, taskId, r.frameworkId, "the cluster no longer wants it");
      const resources = r.task!.resources;
      if (resources) {
        agent.doomed.set(key, { frameworkId: r.frameworkId, resources });
        this.core.allocator.addUsed(agentId, r.frameworkId, resources);
      }
    }
  }

  private killOnAgent(agent: AgentEntry, taskId: string, frameworkId: string, why: string): void {
    this.core.log.info(`killing a task the agent came back with: ${why}`, {
      agent: agent.info.id,
      task: taskId,
      framework: frameworkId,
    });
    agent.link?.send({ killTask: { taskId, frameworkId, graceSeconds: 0 } });
  }

  /** Returns the resources of a doomed task once its agent reports its end. */
  private releaseDoomed(agent: AgentEntry, key: TaskKey): void {
    const d = agent.doomed.get(key);
    if (!d) return;
    agent.doomed.delete(key);
    this.core.allocator.recover(agent.info.id, d.frameworkId, d.resources, now(), 0);
    this.core.allocateSoon(agent.info.id);
  }

  agentMessage(agentId: string, link: AgentLink, msg: AgentMessage): void {
    const agent = this.core.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.lastSeenMs = now();
    if (msg.heartbeat) this.setConditions(agent, msg.heartbeat.conditions);
    if (msg.status?.status) this.agentStatus(agent, msg.status.status);
    for (const u of msg.batch?.statuses ?? []) if (u.status) this.agentStatus(agent, u.status);
    if (msg.usage) {
      for (const u of msg.usage.tasks) {
        const task = this.core.task(u.frameworkId, u.taskId);
        if (task) task.usage = u as TaskUsage;
      }
    }
    if (msg.logData) this.core.logs.deliver(msg.logData);
    const progress = msg.fetchProgress;
    if (progress)
      this.core.guard("fetch progress", () => this.core.releases?.fetchProgress(agentId, progress));
  }

  /**
   * Takes the conditions an agent reports. Under disk pressure it gets no offers (those it has
   * are rescinded) until it reports the pressure gone; its tasks are left alone.
   */
  private setConditions(agent: AgentEntry, reported: AgentConditions | undefined): void {
    const next = reported ?? NO_CONDITIONS;
    const was = agent.conditions.diskPressure;
    agent.conditions = { diskPressure: next.diskPressure, message: next.message };
    if (next.diskPressure === was) return;
    const agentId = agent.info.id;
    this.core.allocator.setAgentDiskPressure(agentId, next.diskPressure);
    this.core.store.transaction(() =>
      this.core.events.append({
        type: next.diskPressure ? "AGENT_DISK_PRESSURE" : "AGENT_DISK_PRESSURE_CLEARED",
        agentId,
        message: next.message,
      }),
    );
    if (next.diskPressure) {
      this.core.log.warn("agent under disk pressure: no offers of it", {
        agent: agentId,
        reason: next.message,
      });
      const t = now();
      for (const o of this.core.offers.forAgent(agentId)) {
        this.core.rescindOffer(o, `agent under disk pressure: ${next.message}`, t, "disk_pressure");
      }
    } else {
      this.core.log.info("agent disk pressure cleared", { agent: agentId });
      this.core.allocateSoon(agentId);
    }
  }

  agentDisconnected(agentId: string, link: AgentLink): void {
    const agent = this.core.agents.get(agentId);
    if (!agent || agent.link !== link) return;
    agent.link = undefined;
    this.core.logs.failAgent(agentId, "the agent disconnected");
    if (agent.status === "LOST" || agent.status === "UNREACHABLE") return;
    agent.status = "DISCONNECTED";
    this.core.store.transaction(() => {
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_DISCONNECTED", agentId });
    });
    this.core.allocator.setAgentActive(agentId, false);
    const t = now();
    for (const o of this.core.offers.forAgent(agentId))
      this.core.rescindOffer(o, "agent disconnected", t, "agent");
    this.core.log.warn("agent disconnected", { agent: agentId });
  }

  /**
   * Silent past the agent timeout: the agent may be partitioned, stopped or dead, and its
   * tasks may well still run. They become TASK_UNREACHABLE (not terminal) and keep their
   * resources; the agent gets no offers and its stream is closed, so that it comes back
   * through a re-registration, which reconciles its tasks.
   */
  agentUnreachable(agent: AgentEntry, t: number): void {
    this.core.log.warn("agent unreachable: no message within the agent timeout", {
      agent: agent.info.id,
      timeoutMs: this.core.config.agentTimeoutMs,
      goneAfterMs: this.core.config.agentGoneTimeoutMs,
    });
    for (const o of this.core.offers.forAgent(agent.info.id))
      this.core.rescindOffer(o, "agent unreachable", t, "agent");
    this.core.allocator.setAgentActive(agent.info.id, false);
    this.core.store.transaction(() => {
      agent.status = "UNREACHABLE";
      agent.unreachableSinceMs = t;
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_UNREACHABLE", agentId: agent.info.id });
      for (const key of [...agent.tasks]) {
        this.core.applyStatus(this.core.knownTask(key), {
          state: TaskState.TASK_UNREACHABLE,
          reason: Reason.AGENT_UNREACHABLE,
          message: `agent ${agent.info.id} (${agent.info.hostname}) is unreachable`,
          source: "master",
        });
      }
    });
    agent.link?.close();
    agent.link = undefined;
    this.core.logs.failAgent(agent.info.id, "the agent is unreachable");
    for (const fw of this.core.frameworks.values()) {
      fw.link?.send({
        type: Event_Type.FAILURE,
        failure: { agentId: agent.info.id, message: `agent ${agent.info.hostname} is unreachable` },
      });
    }
  }

  /** Unreachable past the gone timeout: the agent is LOST and its tasks TASK_LOST. */
  agentGone(agent: AgentEntry, t: number): void {
    const goneS = Math.round((t - (agent.unreachableSinceMs ?? t)) / 1000);
    this.core.log.warn("agent gone: unreachable past the agent gone timeout", {
      agent: agent.info.id,
      goneTimeoutMs: this.core.config.agentGoneTimeoutMs,
    });
    this.core.store.transaction(() => {
      agent.status = "LOST";
      this.core.store.putAgent({ ...agent, lastSeen: agent.lastSeenMs / 1000 });
      this.core.events.append({ type: "AGENT_LOST", agentId: agent.info.id });
      for (const key of [...agent.tasks]) {
        this.core.applyStatus(this.core.knownTask(key), {
          state: TaskState.TASK_LOST,
          reason: Reason.AGENT_GONE,
          message: `agent ${agent.info.id} (${agent.info.hostname}) is gone: unreachable for ${goneS} s`,
          source: "master",
        });
      }
    });
  }

  /** After a stall of the master: every agent gets a fresh timeout before anything is declared. */
  graceAfterStall(t: number, stalledMs: number): void {
    this.core.log.warn("the master stalled; every agent gets a fresh timeout", {
      stalledMs: Math.round(stalledMs),
      agents: this.core.agents.size,
    });
    for (const agent of this.core.agents.values()) freshClock(agent, t);
  }

  private agentStatus(agent: AgentEntry, status: TaskStatus): void {
    const key = taskKey(status.frameworkId, status.taskId);
    if (isTerminal(status.state)) this.releaseDoomed(agent, key);
    const task = this.core.tasks.get(key);
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
    // A task the master already ended (declared lost, killed while away) keeps that end.
    this.core.applyStatus(task, { ...status, source: "agent" });
    ack();
  }
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}
