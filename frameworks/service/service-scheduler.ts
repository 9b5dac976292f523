// The service framework's scheduler: it owns the apps (in memory, written through to the
// ServiceStore) and drives them toward what their specs ask for. A tick (every few hundred
// ms, and soon after each event) reconciles every app: outside a deployment it keeps
// `instances` of the app's revision running (replacing those that exit, with backoff);
// inside one it walks the steps through the pure planner (rollout-plan.ts). Launches are
// decided in the tick as "wants" and carried out when offers come; every instance is
// persisted before its launch is sent, so a restarted framework reconciles it instead of
// launching a second one.
import { randomUUID } from "node:crypto";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import {
  backoffDelay,
  FrameworkRemovedError,
  isTerminal,
  type Logger,
  type Offer,
  SchedulerDriver,
  type TaskInfo,
  TaskState,
  type TaskStatus,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";
import { type AppSpec, canonical, parseAppSpec, SpecError } from "./app-spec.js";
import { type AgentView, placementViolation, staticViolation } from "./constraints.js";
import { probe } from "./health-check.js";
import { planStep, stepTargets } from "./rollout-plan.js";
import {
  type AppRecord,
  type DeploymentRecord,
  type InstanceRecord,
  isEnded,
  type RevisionRecord,
} from "./service-state.js";
import type { ServiceStore, StoreChanges } from "./service-store.js";
import type { Stager } from "./stager.js";

/** Seconds the master keeps an agent's resources from us after a decline. */
export const REFUSE_SECONDS = 5;
/** A kill that got no terminal update within this long is sent again. */
const KILL_RESEND_MS = 10_000;

export interface ServiceSchedulerInit {
  master: string;
  token?: string;
  name: string;
  role: string;
  failoverTimeoutSeconds: number;
  endpoint: string;
  /**
   * The address health checks dial for every instance. Default: the agent's `address`
   * attribute, else its hostname.
   */
  checkHost?: string;
  /** Tick period, default 250 ms. */
  tickMs?: number;
  /** Crash-loop backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
}

/** An instance with what the framework learns about it at run time (not persisted). */
interface Live {
  rec: InstanceRecord;
  healthy: boolean;
  healthySince: number;
  runningSince: number;
  failuresInARow: number;
  nextCheckAt: number;
  checking: boolean;
  killSentAt: number;
}

export interface ApplyResult {
  name: string;
  unchanged: boolean;
  scaled: boolean;
  revision: number;
  deploymentId: string;
}

export interface InstanceView extends InstanceRecord {
  healthy: boolean;
  ready: boolean;
}

export interface AppView {
  app: AppRecord;
  spec: AppSpec;
  deployment?: DeploymentRecord;
  deploymentSteps: number[];
  instances: InstanceView[];
}

type Watcher = (name: string) => void;

export class ServiceScheduler {
  private readonly apps = new Map<string, AppRecord>();
  private readonly revisions = new Map<string, RevisionRecord[]>();
  private readonly deployments = new Map<string, DeploymentRecord[]>();
  private readonly live = new Map<string, Live>();
  private readonly agents = new Map<string, AgentView>();
  private readonly crashes = new Map<string, { count: number; nextAt: number }>();
  /** Launches the last tick asked for, by app: revision and how many. */
  private wants = new Map<string, { revision: number; count: number }>();
  private readonly watchers = new Set<Watcher>();
  private readonly staging = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private changes: StoreChanges = {};
  private driver: SchedulerDriver | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  /** A tick at the moment the next instance becomes ready, so steps do not wait for the period. */
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;
  private stopped = false;
  private interest: "revived" | "suppressed" | undefined;
  private interestSync: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ServiceStore,
    private readonly stager: Stager,
    private readonly log: Logger,
    private readonly init: ServiceSchedulerInit,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    const s = store.load();
    for (const a of s.apps) this.apps.set(a.name, a);
    for (const r of s.revisions) this.listOf(this.revisions, r.app).push(r);
    for (const d of s.deployments) this.listOf(this.deployments, d.app).push(d);
    for (const rec of s.instances) this.live.set(rec.taskId, this.fresh(rec));
  }

  frameworkId(): string | undefined {
    return this.driver?.frameworkId;
  }

  connect(): void {
    const driver = new SchedulerDriver({
      master: this.init.master,
      token: this.init.token,
      logger: this.log,
      framework: {
        name: this.init.name,
        role: this.init.role,
        failoverTimeoutSeconds: this.init.failoverTimeoutSeconds,
        endpoint: this.init.endpoint,
        id: this.store.frameworkId(),
      },
    });
    this.driver = driver;
    driver.on("subscribed", (ev) => this.onSubscribed(ev.frameworkId));
    driver.on("offers", (ev) => this.onOffers(ev.offers));
    driver.on("update", (ev) => this.onUpdate(ev.status));
    driver.on("failure", (ev) => {
      this.agents.delete(ev.agentId);
    });
    driver.on("error", (ev) => this.onError(ev.error, ev.message));
    driver.start().catch((err) => {
      if (!(err instanceof FrameworkRemovedError)) this.log.warn("subscription ended", { error: String(err) });
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.init.tickMs ?? 250);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    if (this.wake) clearTimeout(this.wake.timer);
    this.stager.close();
    await this.driver?.stop();
    await this.interestSync;
    await Promise.allSettled([...this.background]);
    this.flush();
  }

  watch(w: Watcher): () => void {
    this.watchers.add(w);
    return () => this.watchers.delete(w);
  }

  // ---- operator verbs (called by the DeployService) ----

  apply(specYaml: string, fileName = "spec"): ApplyResult {
    let spec: AppSpec;
    try {
      spec = parseAppSpec(specYaml);
    } catch (err) {
      if (err instanceof SpecError) {
        throw new InvalidArgumentError(fileName, `${err.problems.length} problem(s):\n  ${err.problems.join("\n  ")}`);
      }
      throw err;
    }
    const now = this.now();
    const app = this.apps.get(spec.name);
    if (app?.deleting) throw new FailedPreconditionError(`app ${spec.name} is being deleted; apply it again once it is gone`);
    if (app) {
      const cur = this.revision(app.name, app.revision).spec;
      if (canonical({ ...cur, instances: 0 }) === canonical({ ...spec, instances: 0 })) {
        if (spec.instances === app.instances) {
          return { name: app.name, unchanged: true, scaled: false, revision: app.revision, deploymentId: "" };
        }
        this.scale(app.name, spec.instances);
        return { name: app.name, unchanged: false, scaled: true, revision: app.revision, deploymentId: "" };
      }
    }
    const dep = this.newRevision(spec, specYaml, app ? "apply" : "created", now);
    return { name: dep.app, unchanged: false, scaled: false, revision: dep.toRevision, deploymentId: dep.id };
  }

  undo(name: string, toRevision: number): ApplyResult {
    const app = this.requireApp(name);
    let to = toRevision;
    if (!to) {
      const prev = [...(this.revisions.get(name) ?? [])].reverse().find((r) => r.number < app.revision);
      if (!prev) throw new FailedPreconditionError(`app ${name} has no revision before ${app.revision}`);
      to = prev.number;
    }
    const rev = this.revisions.get(name)?.find((r) => r.number === to);
    if (!rev) throw new NotFoundError(`app ${name} has no revision ${to}`);
    if (to === app.revision) throw new FailedPreconditionError(`app ${name} already runs revision ${to}`);
    const dep = this.newRevision({ ...rev.spec, instances: app.instances }, rev.specYaml, `undo to revision ${to}`, this.now());
    return { name: dep.app, unchanged: false, scaled: false, revision: dep.toRevision, deploymentId: dep.id };
  }

  scale(name: string, instances: number): void {
    const app = this.requireApp(name);
    if (!Number.isInteger(instances) || instances < 0) {
      throw new InvalidArgumentError("instances", `${instances} is not a whole number >= 0`);
    }
    app.instances = instances;
    app.updatedAt = this.now();
    this.put({ apps: [app] });
    this.log.info("app scaled", { app: name, instances });
    this.kick();
  }

  pause(name: string): void {
    const dep = this.requireActive(name);
    dep.paused = true;
    this.put({ deployments: [dep] });
    this.kick();
  }

  resume(name: string): void {
    const dep = this.requireActive(name);
    dep.paused = false;
    dep.lastProgressAt = this.now();
    this.put({ deployments: [dep] });
    this.kick();
  }

  promote(name: string): void {
    const dep = this.requireActive(name);
    if (dep.state !== "WAITING_PROMOTION") {
      throw new FailedPreconditionError(`the deployment of ${name} is ${dep.state}, not waiting for promotion`);
    }
    dep.state = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    dep.step++;
    dep.lastProgressAt = this.now();
    this.put({ deployments: [dep] });
    this.kick();
  }

  abort(name: string): void {
    const dep = this.requireActive(name);
    const app = this.requireApp(name);
    if (dep.rollingBack) throw new FailedPreconditionError(`the deployment of ${name} is already rolling back`);
    this.fail(app, dep, "aborted by the operator", this.now(), true);
    this.kick();
  }

  delete(name: string): void {
    const app = this.requireApp(name);
    app.deleting = true;
    app.updatedAt = this.now();
    const dep = this.activeDeployment(name);
    if (dep) {
      dep.state = "ABORTED";
      dep.message = "the app was deleted";
      dep.endedAt = this.now();
      this.put({ deployments: [dep] });
    }
    this.put({ apps: [app] });
    this.log.info("app deleting", { app: name });
    this.kick();
  }

  // ---- views ----

  names(): string[] {
    return [...this.apps.keys()].sort();
  }

  has(name: string): boolean {
    return this.apps.has(name);
  }

  view(name: string): AppView {
    const app = this.requireApp(name);
    const spec = this.revision(name, app.revision).spec;
    const deps = this.deployments.get(name) ?? [];
    const deployment = deps[deps.length - 1];
    const now = this.now();
    const instances: InstanceView[] = [];
    for (const l of this.live.values()) {
      if (l.rec.app !== name) continue;
      instances.push({ ...l.rec, healthy: l.healthy, ready: this.isReady(l, now) });
    }
    instances.sort((a, b) => a.launchedAt - b.launchedAt || a.taskId.localeCompare(b.taskId));
    let deploymentSteps: number[] = [];
    if (deployment) {
      const target = deployment.rollingBack ? deployment.fromRevision : deployment.toRevision;
      const rev = this.revisions.get(name)?.find((r) => r.number === target);
      if (rev) deploymentSteps = stepTargets(rev.spec.rollout.steps, app.instances);
    }
    return { app: { ...app }, spec, deployment: deployment && { ...deployment }, deploymentSteps, instances };
  }

  history(name: string): { revisions: RevisionRecord[]; deployments: DeploymentRecord[] } {
    this.requireApp(name);
    return { revisions: [...(this.revisions.get(name) ?? [])], deployments: [...(this.deployments.get(name) ?? [])] };
  }

  deployment(name: string, id: string): DeploymentRecord | undefined {
    return this.deployments.get(name)?.find((d) => d.id === id);
  }

  // ---- the control loop ----

  /** Runs a tick soon (after the current event), coalescing bursts. */
  private kick(): void {
    if (this.soon || this.stopped) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      this.tick();
    });
  }

  /** Runs a tick at `at` (seconds), unless one is already due earlier. */
  private wakeAt(at: number): void {
    if (this.stopped || (this.wake && this.wake.at <= at)) return;
    if (this.wake) clearTimeout(this.wake.timer);
    const timer = setTimeout(
      () => {
        this.wake = undefined;
        this.tick();
      },
      Math.max(0, (at - this.now()) * 1000) + 5,
    );
    this.wake = { at, timer };
  }

  private tick(): void {
    if (this.stopped) return;
    const now = this.now();
    this.wants = new Map();
    try {
      for (const app of [...this.apps.values()]) this.reconcileApp(app, now);
      this.runHealthChecks(now);
      this.resendKills(now);
    } catch (err) {
      this.log.error("tick failed", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    }
    this.flush();
    this.syncInterest();
    for (const w of this.watchers) {
      for (const name of this.apps.keys()) w(name);
    }
  }

  private reconcileApp(app: AppRecord, now: number): void {
    const live = this.instancesOf(app.name);
    if (app.deleting) {
      // Drain: old revisions first, then the rest, so the app serves until its last instance.
      const others = live.filter((l) => l.rec.revision !== app.revision);
      for (const l of others.length > 0 ? others : live) this.stopInstance(l, "the app is deleted", now);
      if (live.length === 0) this.removeApp(app.name);
      return;
    }
    const dep = this.activeDeployment(app.name);
    if (dep) this.advance(app, dep, live, now);
    else this.maintain(app, live, now);
  }

  /** Outside deployments: `instances` of the app's revision, the rest stopped once those are healthy. */
  private maintain(app: AppRecord, live: Live[], now: number): void {
    const mine = live.filter((l) => l.rec.revision === app.revision && !l.rec.stopping);
    const others = live.filter((l) => l.rec.revision !== app.revision && !l.rec.stopping);
    if (mine.length < app.instances) this.want(app, app.revision, app.instances - mine.length, now);
    if (mine.length > app.instances) {
      const extra = [...mine].sort((a, b) => Number(a.healthy) - Number(b.healthy) || b.rec.launchedAt - a.rec.launchedAt);
      for (const l of extra.slice(0, mine.length - app.instances)) this.stopInstance(l, "scaled down", now);
    }
    if (others.length > 0 && mine.filter((l) => l.healthy).length >= app.instances) {
      for (const l of others) this.stopInstance(l, `replaced by revision ${app.revision}`, now);
    }
  }

  private advance(app: AppRecord, dep: DeploymentRecord, live: Live[], now: number): void {
    if (dep.state === "STAGING") {
      if (!this.staging.has(dep.id)) this.startStaging(app, dep);
      // Old instances keep serving (and are replaced if they die) while the release moves.
      this.maintainRevision(app, dep.fromRevision, live, now);
      return;
    }
    const target = dep.rollingBack ? dep.fromRevision : dep.toRevision;
    const policy = this.revision(app.name, target).spec.rollout;
    if (dep.paused || dep.state === "WAITING_PROMOTION") {
      // The progress deadline counts the time the deployment may move, not the time it waits.
      dep.lastProgressAt = now;
      const want = dep.paused ? "PAUSED" : dep.state;
      if (dep.state !== want) {
        dep.state = want;
        this.put({ deployments: [dep] });
      }
      return;
    }
    const running = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    if (dep.state !== running) {
      dep.state = running;
      this.put({ deployments: [dep] });
    }
    const targets = stepTargets(policy.steps, app.instances);
    if (dep.step >= targets.length) dep.step = targets.length - 1;
    const news = live.filter((l) => l.rec.revision === target && !l.rec.stopping);
    const ready = news.filter((l) => this.isReady(l, now)).length;
    for (const l of news) {
      if (l.healthy && ready < news.length) this.wakeAt(l.healthySince + policy.minHealthySeconds);
    }
    if (ready > dep.bestReady) {
      dep.bestReady = ready;
      dep.lastProgressAt = now;
      this.put({ deployments: [dep] });
    }
    if (policy.maxFailures > 0 && dep.failures >= policy.maxFailures) {
      return this.fail(app, dep, `${dep.failures} instance(s) of revision ${target} exited or failed their health check`, now);
    }
    if (now - dep.lastProgressAt > policy.progressDeadlineSeconds) {
      return this.fail(app, dep, `no progress for ${policy.progressDeadlineSeconds} s (progress deadline)`, now);
    }
    if (dep.stepDoneAt > 0) {
      if (now < dep.stepDoneAt + policy.pauseSeconds) {
        this.wakeAt(dep.stepDoneAt + policy.pauseSeconds);
        return;
      }
      dep.step++;
      dep.stepDoneAt = 0;
      dep.lastProgressAt = now;
      this.put({ deployments: [dep] });
    }
    const old = live
      .filter((l) => l.rec.revision !== target && !l.rec.stopping)
      .sort((a, b) => a.rec.launchedAt - b.rec.launchedAt);
    const decision = planStep({
      instances: app.instances,
      policy,
      target: targets[dep.step]!,
      newLive: news.length,
      newHealthy: news.filter((l) => l.healthy).length,
      newReady: ready,
      old: old.map((l) => ({ taskId: l.rec.taskId, healthy: l.healthy })),
    });
    if (decision.start > 0) this.want(app, target, decision.start, now);
    for (const id of decision.stop) {
      const l = this.live.get(id);
      if (l) this.stopInstance(l, `replaced by revision ${target}`, now);
    }
    if (!decision.done) return;
    dep.lastProgressAt = now;
    if (dep.step >= targets.length - 1) {
      dep.state = dep.rollingBack ? "ROLLED_BACK" : "SUCCEEDED";
      dep.endedAt = now;
      dep.message = dep.rollingBack
        ? `rolled back to revision ${dep.fromRevision}: ${dep.failure}`
        : `revision ${dep.toRevision} runs on ${app.instances} instance(s)`;
      this.log.info("deployment ended", { app: app.name, deployment: dep.id, state: dep.state });
    } else if (policy.manualPromotion) {
      dep.state = "WAITING_PROMOTION";
      dep.message = `step ${dep.step + 1} of ${targets.length} done; waiting for "yardctl rollout promote ${app.name}"`;
    } else if (policy.pauseSeconds > 0) {
      dep.stepDoneAt = now;
    } else {
      dep.step++;
      this.kick();
    }
    this.put({ deployments: [dep] });
  }

  /** Keeps a revision's instances at the app's count (during staging). */
  private maintainRevision(app: AppRecord, revision: number, live: Live[], now: number): void {
    if (revision === 0) return;
    const mine = live.filter((l) => l.rec.revision === revision && !l.rec.stopping);
    if (mine.length < app.instances) this.want(app, revision, app.instances - mine.length, now);
  }

  /** Ends the deployment as failed, or turns it around when it may roll back. */
  private fail(app: AppRecord, dep: DeploymentRecord, why: string, now: number, aborted = false): void {
    const policy = this.revision(app.name, dep.toRevision).spec.rollout;
    if (!dep.rollingBack && dep.fromRevision > 0 && (policy.autoRollback || aborted)) {
      dep.rollingBack = true;
      dep.failure = why;
      dep.state = "ROLLING_BACK";
      dep.paused = false;
      dep.step = 0;
      dep.stepDoneAt = 0;
      dep.bestReady = 0;
      dep.failures = 0;
      dep.lastProgressAt = now;
      dep.message = `rolling back to revision ${dep.fromRevision}: ${why}`;
      app.revision = dep.fromRevision;
      app.updatedAt = now;
      this.put({ apps: [app] });
      this.log.warn("deployment failed; rolling back", { app: app.name, deployment: dep.id, why });
    } else {
      dep.state = aborted ? "ABORTED" : "FAILED";
      dep.failure ||= why;
      dep.message = why;
      dep.endedAt = now;
      this.log.warn("deployment failed", { app: app.name, deployment: dep.id, why });
    }
    this.put({ deployments: [dep] });
  }

  private want(app: AppRecord, revision: number, count: number, now: number): void {
    const crash = this.crashes.get(app.name);
    if (crash && now < crash.nextAt) return;
    this.wants.set(app.name, { revision, count });
  }

  private startStaging(app: AppRecord, dep: DeploymentRecord): void {
    const spec = this.revision(app.name, dep.toRevision).spec;
    if (!spec.release) {
      dep.state = "RUNNING";
      dep.stagingComplete = true;
      dep.lastProgressAt = this.now();
      this.put({ deployments: [dep] });
      this.kick();
      return;
    }
    // Every agent that may run a new instance: the known agents the static constraints allow.
    const agentIds = [...this.agents.values()]
      .filter((a) => !staticViolation(spec.constraints, a))
      .map((a) => a.agentId);
    this.staging.add(dep.id);
    dep.message = `staging ${spec.release} on ${agentIds.length || "all"} agent(s)`;
    this.put({ deployments: [dep] });
    const done = this.stager
      .stage(spec.release, agentIds, (status) => {
        dep.staging = status.agents;
        this.put({ deployments: [dep] });
      })
      .then((result) => {
        this.staging.delete(dep.id);
        if (this.stopped || dep.state !== "STAGING") return;
        const now = this.now();
        if (result.ok) {
          dep.state = "RUNNING";
          dep.stagingComplete = true;
          dep.lastProgressAt = now;
          dep.message = `${spec.release} staged`;
          this.put({ deployments: [dep] });
        } else {
          this.fail(app, dep, `staging ${spec.release} failed: ${result.error}`, now);
        }
        this.kick();
      })
      .catch((err) => this.log.error("staging failed", { error: String(err) }));
    this.track(done);
  }

  private newRevision(spec: AppSpec, specYaml: string, cause: string, now: number): DeploymentRecord {
    let app = this.apps.get(spec.name);
    const revs = this.listOf(this.revisions, spec.name);
    const number = (revs[revs.length - 1]?.number ?? 0) + 1;
    const rev: RevisionRecord = { app: spec.name, number, spec, specYaml, createdAt: now, changeCause: cause };
    revs.push(rev);
    const active = this.activeDeployment(spec.name);
    if (active) {
      active.state = "SUPERSEDED";
      active.endedAt = now;
      active.message = `superseded by revision ${number}`;
    }
    const from = app?.revision ?? 0;
    if (!app) {
      app = { name: spec.name, revision: number, instances: spec.instances, deleting: false, updatedAt: now };
      this.apps.set(app.name, app);
    }
    app.revision = number;
    app.instances = spec.instances;
    app.updatedAt = now;
    const dep: DeploymentRecord = {
      id: `${spec.name}-${number}-${randomUUID().slice(0, 6)}`,
      app: spec.name,
      fromRevision: from,
      toRevision: number,
      state: "STAGING",
      paused: false,
      rollingBack: false,
      step: 0,
      stepDoneAt: 0,
      lastProgressAt: now,
      bestReady: 0,
      failures: 0,
      message: "",
      failure: "",
      startedAt: now,
      endedAt: 0,
      staging: [],
      stagingComplete: false,
    };
    this.listOf(this.deployments, spec.name).push(dep);
    this.crashes.delete(spec.name);
    this.put({ apps: [app], revisions: [rev], deployments: active ? [active, dep] : [dep] });
    this.log.info("deployment started", { app: spec.name, revision: number, from, deployment: dep.id });
    this.kick();
    return dep;
  }

  // ---- instances ----

  private fresh(rec: InstanceRecord): Live {
    return {
      rec,
      healthy: false,
      healthySince: 0,
      runningSince: 0,
      failuresInARow: 0,
      nextCheckAt: 0,
      checking: false,
      killSentAt: 0,
    };
  }

  private isReady(l: Live, now: number): boolean {
    if (!l.healthy) return false;
    const rev = this.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    return now - l.healthySince >= (rev?.spec.rollout.minHealthySeconds ?? 0);
  }

  private instancesOf(app: string): Live[] {
    return [...this.live.values()].filter((l) => l.rec.app === app);
  }

  private stopInstance(l: Live, why: string, now: number): void {
    if (l.rec.stopping) return;
    l.rec.stopping = true;
    l.rec.message = why;
    this.put({ instances: [l.rec] });
    this.sendKill(l, now);
  }

  private sendKill(l: Live, now: number): void {
    const driver = this.driver;
    if (!driver?.frameworkId) return; // resent by resendKills once subscribed
    l.killSentAt = now;
    const rev = this.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    const p = driver
      .kill(l.rec.taskId, rev?.spec.killGraceSeconds)
      .catch((err) => this.log.warn("kill failed", { taskId: l.rec.taskId, error: String(err) }));
    this.track(p);
  }

  private resendKills(now: number): void {
    for (const l of this.live.values()) {
      if (l.rec.stopping && (now - l.killSentAt) * 1000 > KILL_RESEND_MS) this.sendKill(l, now);
    }
  }

  private countFailure(l: Live, now: number): void {
    const c = this.crashes.get(l.rec.app) ?? { count: 0, nextAt: 0 };
    const backoff = this.init.restartBackoff ?? { initialMs: 1_000, maxMs: 60_000 };
    c.nextAt = now + backoffDelay(c.count, backoff) / 1000;
    c.count++;
    this.crashes.set(l.rec.app, c);
    const dep = this.activeDeployment(l.rec.app);
    if (dep) {
      const target = dep.rollingBack ? dep.fromRevision : dep.toRevision;
      if (l.rec.revision === target) {
        dep.failures++;
        this.put({ deployments: [dep] });
      }
    }
  }

  private runHealthChecks(now: number): void {
    for (const l of this.live.values()) {
      if (l.rec.state !== TaskState.TASK_RUNNING || l.rec.stopping || l.checking || now < l.nextCheckAt) continue;
      const hc = this.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision)?.spec.healthCheck;
      if (!hc) continue;
      l.checking = true;
      l.nextCheckAt = now + hc.intervalSeconds;
      const p = probe(hc, l.rec.host, l.rec.port)
        .then((r) => {
          const t = this.now();
          if (this.live.get(l.rec.taskId) !== l || l.rec.stopping) return;
          if (r.ok) {
            l.failuresInARow = 0;
            if (!l.healthy) {
              l.healthy = true;
              l.healthySince = t;
              this.crashes.delete(l.rec.app);
              this.kick();
            }
            return;
          }
          if (!l.healthy && t - l.runningSince < hc.gracePeriodSeconds) return;
          l.failuresInARow++;
          if (l.failuresInARow >= hc.failures) {
            l.healthy = false;
            l.healthySince = 0;
            this.log.warn("instance unhealthy; replacing it", { taskId: l.rec.taskId, check: r.message });
            this.countFailure(l, t);
            this.stopInstance(l, `unhealthy: ${r.message}`, t);
            this.kick();
          }
        })
        .catch((err) => this.log.warn("health check error", { taskId: l.rec.taskId, error: String(err) }))
        .finally(() => {
          l.checking = false;
        });
      this.track(p);
    }
  }

  private removeApp(name: string): void {
    this.apps.delete(name);
    this.revisions.delete(name);
    this.deployments.delete(name);
    this.crashes.delete(name);
    this.put({ deleteApps: [name] });
    this.log.info("app deleted", { app: name });
  }

  // ---- driver events ----

  private async onSubscribed(frameworkId: string): Promise<void> {
    this.store.setFrameworkId(frameworkId);
    this.interest = undefined;
    const driver = this.driver!;
    const ids = [...this.live.keys()];
    try {
      if (ids.length > 0) await driver.reconcile(ids);
      await driver.reconcile([]);
    } catch (err) {
      this.log.warn("reconcile failed", { error: String(err) });
    }
    this.kick();
  }

  private async onOffers(offers: Offer[]): Promise<void> {
    const driver = this.driver!;
    const now = this.now();
    const decline: string[] = [];
    for (const offer of offers) {
      const attrs: Record<string, string> = {};
      for (const a of offer.attributes) attrs[a.name] = a.value;
      const agent: AgentView = { agentId: offer.agentId, hostname: offer.hostname, attributes: attrs };
      this.agents.set(agent.agentId, agent);
      const tasks = this.placeOnOffer(offer, agent, now);
      if (tasks.length === 0) {
        decline.push(offer.id);
        continue;
      }
      try {
        await driver.launch(offer, tasks, { refuseSeconds: 1 });
        this.log.info("launched", { agent: offer.agentId, tasks: tasks.map((t) => t.taskId).join(",") });
      } catch (err) {
        this.log.warn("launch refused", { offer: offer.id, error: String(err) });
        for (const t of tasks) {
          this.live.delete(t.taskId);
          this.put({ deleteInstances: [t.taskId] });
        }
      }
    }
    if (decline.length > 0) {
      await driver
        .decline(decline, { refuseSeconds: REFUSE_SECONDS })
        .catch((err) => this.log.warn("decline failed", { error: String(err) }));
    }
    this.kick();
  }

  /** Takes what the wants ask for out of one offer, within the apps' constraints; persists the instances. */
  private placeOnOffer(offer: Offer, agent: AgentView, now: number): TaskInfo[] {
    let left = offer.resources;
    const tasks: TaskInfo[] = [];
    const created: InstanceRecord[] = [];
    if (!left) return tasks;
    for (const [name, want] of this.wants) {
      const app = this.apps.get(name);
      if (!app || app.deleting) continue;
      const spec = this.revision(name, want.revision).spec;
      const executor = spec.image ? "docker" : "process";
      if (offer.executors.length > 0 && !offer.executors.includes(executor)) continue;
      while (want.count > 0) {
        const placed = [...this.live.values()]
          .filter((l) => l.rec.app === name && l.rec.revision === want.revision && !l.rec.stopping)
          .map((l) => this.agents.get(l.rec.agentId) ?? { agentId: l.rec.agentId, hostname: l.rec.hostname, attributes: {} });
        if (placementViolation(spec.constraints, agent, placed, [...this.agents.values()])) break;
        const r = spec.resources;
        const take = takeTasks(left, [{ cpus: r.cpus, mem: r.mem, disk: r.disk, ports: r.ports }]);
        const p = take.placed[0];
        if (!p) break;
        left = take.remaining;
        const taskId = `${name}.${want.revision}.${randomUUID().slice(0, 8)}`;
        const port = p.resources.ports[0]?.begin ?? 0;
        const rec: InstanceRecord = {
          taskId,
          app: name,
          revision: want.revision,
          agentId: offer.agentId,
          hostname: offer.hostname,
          host: this.init.checkHost || agent.attributes.address || offer.hostname,
          port,
          state: TaskState.TASK_STAGING,
          launchedAt: now,
          message: "",
          stopping: false,
        };
        tasks.push(
          taskInfo({
            taskId,
            name: `${name}.${want.revision}`,
            agentId: offer.agentId,
            command: spec.command || undefined,
            env: { ...spec.env, YARD_APP: name, YARD_REVISION: String(want.revision) },
            cpus: r.cpus,
            mem: r.mem,
            disk: r.disk,
            ports: p.resources.ports,
            executor,
            image: spec.image || undefined,
            labels: { "yard.app": name, "yard.revision": String(want.revision) },
            killGraceSeconds: spec.killGraceSeconds,
            release: spec.release || undefined,
          }),
        );
        created.push(rec);
        this.live.set(taskId, this.fresh(rec));
        want.count--;
      }
    }
    // Persist before the launch is sent: after a crash, reconciliation finds these.
    if (created.length > 0) {
      this.put({ instances: created });
      this.flush();
    }
    return tasks;
  }

  private onUpdate(status: TaskStatus): void {
    const l = this.live.get(status.taskId);
    const now = this.now();
    if (!l) {
      if (!isTerminal(status.state) && this.driver?.frameworkId) {
        this.log.warn("killing a task no app knows", { taskId: status.taskId });
        this.track(
          this.driver.kill(status.taskId).catch((err) => this.log.warn("kill failed", { error: String(err) })),
        );
      }
      return;
    }
    const prev = l.rec.state;
    l.rec.state = status.state;
    if (status.agentId) l.rec.agentId = status.agentId;
    if (status.message && !l.rec.stopping) l.rec.message = status.message;
    if (isTerminal(status.state)) {
      this.live.delete(l.rec.taskId);
      this.put({ deleteInstances: [l.rec.taskId] });
      if (!l.rec.stopping) {
        this.log.warn("instance ended", { taskId: l.rec.taskId, state: status.state, message: status.message });
        this.countFailure(l, now);
      }
    } else {
      if (status.state === TaskState.TASK_RUNNING && prev !== TaskState.TASK_RUNNING) {
        l.runningSince = now;
        const hc = this.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision)?.spec.healthCheck;
        if (!hc) {
          l.healthy = true;
          l.healthySince = now;
        }
        l.nextCheckAt = now;
      }
      if (prev !== status.state) this.put({ instances: [l.rec] });
    }
    this.kick();
  }

  private onError(error: Error | undefined, message: string): void {
    if (!(error instanceof FrameworkRemovedError)) {
      this.log.warn("error from the master", { message });
      return;
    }
    // The master removed us (failover timeout passed) and killed our tasks: forget them and
    // subscribe anew; the apps are started again from their specs.
    this.log.error("framework was removed by the master; subscribing anew", { message });
    this.store.setFrameworkId(undefined);
    this.put({ deleteInstances: [...this.live.keys()] });
    this.live.clear();
    if (this.stopped) return;
    setImmediate(() => {
      if (!this.stopped) this.connect();
    });
  }

  /** Suppress when no app wants a launch, revive when one does; one call at a time, in order. */
  private syncInterest(): void {
    this.interestSync = this.interestSync
      .then(async () => {
        const driver = this.driver;
        if (this.stopped || !driver?.frameworkId) return;
        const want = [...this.wants.values()].some((w) => w.count > 0);
        if (want && this.interest !== "revived") {
          this.interest = "revived";
          await driver.revive();
        } else if (!want && this.interest !== "suppressed") {
          this.interest = "suppressed";
          await driver.suppress();
        }
      })
      .catch((err) => {
        this.interest = undefined;
        this.log.warn("suppress/revive failed", { error: String(err) });
      });
  }

  // ---- bookkeeping ----

  private put(c: StoreChanges): void {
    const m = this.changes;
    for (const k of Object.keys(c) as (keyof StoreChanges)[]) {
      (m[k] as unknown[]) = [...((m[k] as unknown[]) ?? []), ...((c[k] as unknown[]) ?? [])];
    }
  }

  /** Writes the pending changes in one transaction (last write of a record wins). */
  private flush(): void {
    const c = this.changes;
    this.changes = {};
    if (Object.keys(c).length === 0) return;
    const dedup = <T>(list: T[] | undefined, key: (t: T) => string) =>
      list && [...new Map(list.map((x) => [key(x), x])).values()];
    this.store.write({
      apps: dedup(c.apps, (a) => a.name)?.filter((a) => this.apps.has(a.name)),
      deleteApps: c.deleteApps,
      revisions: dedup(c.revisions, (r) => `${r.app}/${r.number}`)?.filter((r) => this.apps.has(r.app)),
      instances: dedup(c.instances, (i) => i.taskId)?.filter((i) => this.live.has(i.taskId)),
      deleteInstances: c.deleteInstances?.filter((id) => !this.live.has(id)),
      deployments: dedup(c.deployments, (d) => d.id)?.filter((d) => this.apps.has(d.app)),
    });
  }

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    const forget = () => this.background.delete(p);
    p.then(forget, forget);
  }

  private listOf<T>(m: Map<string, T[]>, key: string): T[] {
    let list = m.get(key);
    if (!list) {
      list = [];
      m.set(key, list);
    }
    return list;
  }

  private revision(app: string, number: number): RevisionRecord {
    const r = this.revisions.get(app)?.find((x) => x.number === number);
    if (!r) throw new Error(`app ${app} has no revision ${number}`);
    return r;
  }

  private requireApp(name: string): AppRecord {
    const app = this.apps.get(name);
    if (!app) throw new NotFoundError(`app ${JSON.stringify(name)} not found`);
    return app;
  }

  private activeDeployment(name: string): DeploymentRecord | undefined {
    const deps = this.deployments.get(name);
    const last = deps?.[deps.length - 1];
    return last && !isEnded(last) ? last : undefined;
  }

  private requireActive(name: string): DeploymentRecord {
    this.requireApp(name);
    const dep = this.activeDeployment(name);
    if (!dep) throw new FailedPreconditionError(`app ${name} has no deployment in progress`);
    return dep;
  }
}
