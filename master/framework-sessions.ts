// The frameworks' side of the master: subscriptions and failover, and the SchedulerService
// calls (Accept, Decline, Kill, Reconcile, Acknowledge, Suppress, Revive, Teardown).
import { pendingChanges, validatePendingWork } from "./pending-reports.js";
import { validateFrameworkEvents } from "./framework-events.js";
import type { PendingWork } from "../proto/gen/yard/v1/common.js";
import { createHash, randomBytes } from "node:crypto";
import { sameSecret } from "../common/auth.js";
import { status as Code } from "@grpc/grpc-js";
import {
  FailedPreconditionError,
  PermissionDeniedError,
  InvalidArgumentError,
  NotFoundError,
} from "../common/errors.js";
import { newId } from "../common/ids.js";
import { Reason } from "../common/reasons.js";
import { isEmptyResources } from "../common/resources.js";
import { taskKey } from "../common/task-key.js";
import { isTerminal, TaskState } from "../common/task-states.js";
import { type FrameworkInfo, TaskStatus } from "../proto/gen/yard/v1/common.js";
import { Event_Type, type FrameworkEvent, type Operation } from "../proto/gen/yard/v1/scheduler.js";
import { validateAccept } from "./accept-validation.js";
import type { FrameworkLink } from "./links.js";
import { failoverSeconds, roleOf } from "./master-config.js";
import type { FrameworkEntry, TaskEntry } from "./registry-entries.js";

/** Who subscribes: the authenticated principal ("name (kind)"), its failover proof, its address. */
export interface Subscriber {
  principal: string;
  /** SubscribeRequest.framework_secret: required to subscribe with an existing framework id. */
  secret: string;
  /** The peer's address, for the operator who asks who took over. */
  peer: string;
}

function hashSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

import { keyOf, type MasterCore, now } from "./master-core.js";

export class FrameworkSessions {
  constructor(private readonly core: MasterCore) {}

  /** Refuses launches that name a release the release store does not hold. */
  private checkTaskReleases(operations: Operation[]): void {
    operations.forEach((op, i) => {
      op.launch?.tasks.forEach((task, j) => {
        if (!task.release) return;
        const field = `operations[${i}].launch.tasks[${j}].release`;
        if (!this.core.releases)
          throw new InvalidArgumentError(field, `"${task.release}" is not a known release`);
        this.core.releases.checkTaskRelease(task.release, field);
      });
    });
  }

  // ---------------------------------------------------------------- frameworks

  subscribe(link: FrameworkLink, info: FrameworkInfo | undefined, who: Subscriber): string {
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
    let fw = info.id ? this.core.frameworks.get(info.id) : undefined;
    if (info.id && (!fw || fw.removing)) {
      throw new NotFoundError(
        `framework ${info.id} is unknown or was removed (torn down, or its failover timeout passed); subscribe without an id`,
      );
    }
    let issuedSecret = "";
    if (fw) {
      // Everything that can refuse comes before the current subscription is superseded: a
      // caller that may not take the framework over must not be able to disconnect it either.
      this.checkIdentity(fw, who);
      if (roleOf(fw.info) !== role) {
        throw new InvalidArgumentError(
          "framework_info.role",
          `cannot change from "${fw.info.role}" to "${info.role}"`,
        );
      }
      if (!fw.principal) fw.principal = who.principal;
      if (!fw.secretHash) {
        // Registered before framework secrets existed: it gets one now (trust on first use).
        issuedSecret = randomBytes(32).toString("base64url");
        fw.secretHash = hashSecret(issuedSecret);
      }
      if (fw.link) {
        const old = fw.link;
        fw.link = undefined;
        old.end(
          Code.ABORTED,
          `superseded: framework ${fw.info.id} was subscribed again by principal ${who.principal} from ${who.peer}`,
        );
      }
      fw.info = { ...info, role };
    } else {
      const id = newId("fw");
      issuedSecret = randomBytes(32).toString("base64url");
      fw = {
        info: { ...info, id, role },
        principal: who.principal,
        secretHash: hashSecret(issuedSecret),
        status: "CONNECTED",
        registeredAt: t / 1000,
        disconnectedAtMs: 0,
        suppressed: false,
        lastHeartbeatMs: t,
        unacked: new Map(),
        tasks: new Set(),
        outbox: [],
        session: "",
        removing: false,
        forgotten: false,
      };
      this.core.frameworks.set(id, fw);
      this.core.allocator.addFramework({ id, role, active: true });
    }
    const entry = fw;
    const reconnected = info.id !== "";
    entry.status = "CONNECTED";
    entry.link = link;
    entry.session = randomBytes(18).toString("base64url");
    entry.lastHeartbeatMs = t;
    entry.lastOfferMs = t;
    this.core.store.transaction(() => {
      this.core.store.putFramework({ ...entry, disconnectedAt: 0 });
      this.core.events.append({
        type: reconnected ? "FRAMEWORK_RESUBSCRIBED" : "FRAMEWORK_ADDED",
        frameworkId: entry.info.id,
        message: `${entry.info.name} by principal ${who.principal} from ${who.peer}`,
        principal: who.principal,
      });
    });
    link.send({
      type: Event_Type.SUBSCRIBED,
      subscribed: {
        frameworkId: entry.info.id,
        heartbeatIntervalSeconds: this.core.config.frameworkHeartbeatMs / 1000,
        session: entry.session,
        frameworkSecret: issuedSecret,
      },
    });
    this.core.allocator.setFrameworkActive(entry.info.id, true);
    for (const taskId of entry.unacked.keys())
      this.core.sendUpdate(entry, this.core.task(entry.info.id, taskId), t);
    this.core.log.info(reconnected ? "framework re-subscribed" : "framework subscribed", {
      framework: entry.info.id,
      name: entry.info.name,
      role,
    });
    for (const a of this.core.agents.values()) if (a.status === "ACTIVE") this.core.allocateSoon(a.info.id);
    return entry.info.id;
  }

  frameworkDisconnected(frameworkId: string, link: FrameworkLink): void {
    const fw = this.core.frameworks.get(frameworkId);
    if (!fw || fw.link !== link) return;
    fw.link = undefined;
    if (fw.status === "INACTIVE" || fw.removing) return;
    const t = now();
    fw.status = "DISCONNECTED";
    fw.disconnectedAtMs = t;
    this.core.allocator.setFrameworkActive(frameworkId, false);
    for (const o of this.core.offers.forFramework(frameworkId))
      this.core.rescindOffer(o, "framework disconnected", t, "framework");
    this.core.store.transaction(() => {
      this.core.store.putFramework({ ...fw, disconnectedAt: t / 1000 });
      this.core.events.append({ type: "FRAMEWORK_DISCONNECTED", frameworkId });
    });
    this.core.log.warn("framework disconnected; waiting for it to fail over", {
      framework: frameworkId,
      failoverTimeoutSeconds: failoverSeconds(fw.info, this.core.config),
    });
  }

  /**
   * Refuses a subscription with an existing framework id unless it comes from the principal
   * that registered the framework and carries the framework secret issued then.
   */
  private checkIdentity(fw: FrameworkEntry, who: Subscriber): void {
    const id = fw.info.id;
    if (fw.principal && fw.principal !== who.principal) {
      throw new PermissionDeniedError(
        `principal ${who.principal} may not subscribe as framework ${id}: it was registered by principal ${fw.principal}`,
      );
    }
    if (fw.secretHash && !sameSecret(hashSecret(who.secret), fw.secretHash)) {
      throw new PermissionDeniedError(
        `principal ${who.principal} may not subscribe as framework ${id}: a failover must present the framework secret issued at its registration (framework_secret)`,
      );
    }
  }

  /**
   * Refuses a call made in the name of a framework by another principal than the one that
   * registered it, or by anyone but its current subscription. Calls for frameworks that are
   * not subscribed fail later, with their own reason.
   */
  checkSession(frameworkId: string, session: string, principal?: string): void {
    const fw = this.core.frameworks.get(frameworkId);
    if (principal !== undefined && fw?.principal && fw.principal !== principal) {
      throw new PermissionDeniedError(
        `principal ${principal} may not act as framework ${frameworkId}: it was registered by principal ${fw.principal}`,
      );
    }
    if (!fw?.link || fw.removing) return;
    if (!sameSecret(session, fw.session)) {
      throw new PermissionDeniedError(
        `framework ${frameworkId}: the call does not come from its current subscription (yard-session metadata)`,
      );
    }
  }

  private requireSubscribed(frameworkId: string): FrameworkEntry {
    if (!frameworkId) throw new InvalidArgumentError("framework_id", "is required");
    const fw = this.core.frameworks.get(frameworkId);
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
        lookupOffer: (id) => this.core.offers.get(id),
        // Only this framework's own ids: another's are neither refused nor revealed.
        taskIdInUse: (id) => this.core.task(frameworkId, id) !== undefined,
        agentExecutors: (id) => this.core.agents.get(id)?.info.executors,
      });
      this.checkTaskReleases(operations);
    } catch (err) {
      // Nothing of a rejected Accept is applied; the offers it named return to the pool now.
      for (const id of new Set(offerIds)) {
        const o = this.core.offers.get(id);
        if (o && o.frameworkId === frameworkId) {
          this.core.offers.remove(id);
          this.core.allocator.recover(o.agentId, o.frameworkId, o.resources, t, 0);
          this.core.allocateSoon(o.agentId);
        }
      }
      throw err;
    }
    const agent = this.core.agents.get(plan.agentId);
    for (const o of plan.offers) {
      this.core.offers.remove(o.id);
      this.core.recorder.offerAccepted(o.createdAtMs, t);
    }
    const refuse = refuseSeconds ?? this.core.config.defaultRefuseSeconds;
    if (!agent?.link) {
      for (const o of plan.offers) this.core.allocator.recover(o.agentId, frameworkId, o.resources, t, 0);
      throw new FailedPreconditionError(`agent ${plan.agentId} is not connected`);
    }
    if (!isEmptyResources(plan.unused))
      this.core.allocator.recover(plan.agentId, frameworkId, plan.unused, t, refuse);
    if (plan.tasks.length === 0) return [];
    const created: TaskEntry[] = [];
    this.core.store.transaction(() => {
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
          acceptedAtMs: t,
        };
        this.core.store.putTask(task, false, t / 1000);
        this.core.events.append({
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
      const key = keyOf(task);
      this.core.tasks.set(key, task);
      agent.tasks.add(key);
      fw.tasks.add(task.info.taskId);
      const artifact = task.info.release ? this.core.releases?.artifactFor(task.info.release) : undefined;
      // The framework's user: the agent runs process tasks as it (docs/security.md).
      runTasks.push({ frameworkId, task: task.info, artifact, user: fw.info.user });
    }
    // The tasks of one Accept go down the agent's stream in one message.
    agent.link.send({ batch: { runTasks, acks: [] } });
    this.core.counters.placements += created.length;
    if (!isEmptyResources(plan.unused)) this.core.allocateSoon(plan.agentId);
    return created.map((c) => c.info.taskId);
  }

  decline(frameworkId: string, offerIds: string[], refuseSeconds?: number): void {
    this.requireSubscribed(frameworkId);
    const t = now();
    for (const id of offerIds) {
      const o = this.core.offers.get(id);
      if (!o) continue; // already rescinded or expired: nothing to give back
      if (o.frameworkId !== frameworkId) {
        throw new FailedPreconditionError(`offer ${id} belongs to another framework`);
      }
    }
    for (const id of offerIds) {
      const o = this.core.offers.remove(id);
      if (!o) continue;
      this.core.recorder.offersDeclined(1);
      this.core.allocator.recover(
        o.agentId,
        frameworkId,
        o.resources,
        t,
        refuseSeconds ?? this.core.config.defaultRefuseSeconds,
      );
      this.core.allocateSoon(o.agentId);
    }
  }

  kill(frameworkId: string, taskId: string, graceSeconds?: number): void {
    const fw = this.requireSubscribed(frameworkId);
    const task = this.core.task(frameworkId, taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (isTerminal(task.status.state)) {
      fw.link?.send({
        type: Event_Type.UPDATE,
        update: { status: { ...task.status, uuid: "" }, statuses: [] },
      });
      return;
    }
    this.core.killTaskInternal(task, graceSeconds, Reason.KILL_REQUESTED);
  }

  reconcile(frameworkId: string, taskIds: string[]): void {
    const fw = this.requireSubscribed(frameworkId);
    const send = (status: TaskStatus) =>
      fw.link?.send({
        type: Event_Type.UPDATE,
        update: { status: { ...status, uuid: "", source: "master" }, statuses: [] },
      });
    if (taskIds.length === 0) {
      for (const id of fw.tasks) send(this.core.knownTask(taskKey(frameworkId, id)).status);
      for (const id of fw.unacked.keys())
        if (!fw.tasks.has(id)) send(this.core.knownTask(taskKey(frameworkId, id)).status);
      return;
    }
    for (const id of taskIds) {
      const task = this.core.task(frameworkId, id);
      if (task) send(task.status);
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
    const task = this.core.task(frameworkId, taskId);
    if (!task) throw new NotFoundError(`task ${taskId} not found`);
    if (task.status.uuid !== uuid) return; // an older update: the newer one is still pending
    fw.unacked.delete(taskId);
    if (task.statusAtMs !== undefined) this.core.recorder.updateAcknowledged(task.statusAtMs, now());
    task.acknowledged = true;
    this.core.store.markAcknowledged(frameworkId, taskId, now() / 1000);
    if (isTerminal(task.status.state)) this.core.forgetLater(task);
  }

  /** Batched acknowledgements: each as if sent alone, except that unknown tasks are skipped. */
  acknowledgeBatch(frameworkId: string, acks: { taskId: string; uuid: string }[]): void {
    if (acks.length === 0) return;
    this.requireSubscribed(frameworkId);
    this.core.store.transaction(() => {
      for (const a of acks) {
        if (!a.uuid || !this.core.task(frameworkId, a.taskId)) continue;
        this.acknowledge(frameworkId, a.taskId, a.uuid);
      }
    });
  }

  suppress(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    fw.suppressed = true;
    this.core.allocator.suppress(frameworkId);
    const t = now();
    for (const o of this.core.offers.forFramework(frameworkId))
      this.core.rescindOffer(o, "framework suppressed offers", t, "framework");
    this.core.store.putFramework({ ...fw, disconnectedAt: 0 });
  }

  revive(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    // Starvation counts from the moment it wants offers again, not from its last offer.
    if (fw.suppressed) fw.lastOfferMs = now();
    fw.suppressed = false;
    this.core.allocator.revive(frameworkId);
    this.core.store.putFramework({ ...fw, disconnectedAt: 0 });
    for (const a of this.core.agents.values()) if (a.status === "ACTIVE") this.core.allocateSoon(a.info.id);
  }

  /** The framework's half of "why pending": replaces what it reported before. */
  reportPending(frameworkId: string, work: PendingWork[]): void {
    this.requireSubscribed(frameworkId);
    validatePendingWork(work);
    const before = this.core.pending.of(frameworkId)?.work ?? [];
    this.core.pending.report(frameworkId, work, now());
    // What began or stopped waiting joins the event stream (the reports themselves do not).
    this.core.store.transaction(() => {
      for (const e of pendingChanges(before, work)) this.core.events.append({ ...e, frameworkId });
    });
  }

  /** Events of the framework's own, appended to the cluster's stream in one transaction. */
  publishEvents(frameworkId: string, events: FrameworkEvent[]): void {
    this.requireSubscribed(frameworkId);
    validateFrameworkEvents(events);
    this.core.store.transaction(() => {
      for (const e of events)
        this.core.events.append({
          type: e.type,
          frameworkId,
          object: e.object,
          message: e.message,
          taskId: e.taskId,
          agentId: e.agentId,
        });
    });
  }

  teardown(frameworkId: string): void {
    const fw = this.requireSubscribed(frameworkId);
    this.removeFramework(fw, "torn down");
    fw.link?.end(Code.CANCELLED, "framework torn down");
    fw.link = undefined;
  }

  /** Kills every task of the framework; it is forgotten once they have all ended. */
  removeFramework(fw: FrameworkEntry, why: string): void {
    fw.removing = true;
    fw.status = "INACTIVE";
    const t = now();
    this.core.allocator.setFrameworkActive(fw.info.id, false);
    for (const o of this.core.offers.forFramework(fw.info.id))
      this.core.rescindOffer(o, `framework ${why}`, t, "framework");
    this.core.store.transaction(() => {
      this.core.store.putFramework({ ...fw, status: "INACTIVE", disconnectedAt: t / 1000 });
      this.core.events.append({ type: "FRAMEWORK_REMOVED", frameworkId: fw.info.id, message: why });
    });
    for (const id of [...fw.tasks])
      this.core.killTaskInternal(this.core.knownTask(taskKey(fw.info.id, id)), 0, Reason.FRAMEWORK_REMOVED);
    if (fw.tasks.size === 0) this.finishRemoval(fw);
  }

  finishRemoval(fw: FrameworkEntry): void {
    fw.forgotten = true;
    fw.unacked.clear();
    this.core.pending.forget(fw.info.id);
    this.core.lastOfferAtMs.delete(fw.info.id);
    this.core.allocator.removeFramework(fw.info.id);
    this.core.log.info("framework removed", { framework: fw.info.id });
  }
}
