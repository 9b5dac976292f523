// The service framework's scheduler: the daemon shell around the pure parts. It owns the
// driver, the tick (every 250 ms, soon after each event, and when an instance is due to turn
// ready), staging, kills and crash backoff; instance health comes from the task statuses
// (instance-health.ts), the agents run the checks. Each tick the AppController
// decides per app what to launch and stop; launches are kept as "wants" and placed on the
// next offers (offer-placement.ts). Every instance is persisted before its launch is sent,
// so a restarted framework reconciles it instead of launching a second one.
import { randomUUID } from "node:crypto";
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from "../../common/errors.js";
import { LIMITS } from "../../common/limits.js";
import {
  backoffDelay,
  FrameworkRemovedError,
  isInfrastructureLoss,
  isTerminal,
  type Logger,
  type Offer,
  RetryBackoff,
  SchedulerDriver,
  type TaskInfo,
  TaskState,
  type TaskStatus,
} from "../../framework-sdk/index.js";
import { type AppSpec, canonical, parseAppSpec, SpecError } from "./app-spec.js";
import { type AppView, AppBook, type Live } from "./app-book.js";
import { AppController } from "./app-controller.js";
import { type AgentView, staticViolation } from "./constraints.js";
import { placeOnOffer, type Want } from "./offer-placement.js";
import { healthOf, healthySince } from "./instance-health.js";
import type { AppRecord, DeploymentRecord, RevisionRecord } from "./service-state.js";
import type { ServiceStore } from "./service-store.js";
import { PinSync, pinnedReleases } from "./release-pins.js";
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
  /** Tick period, default 250 ms. */
  tickMs?: number;
  /** Crash-loop backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** Backoff of an app whose launch the master refused, default 1 s doubling to 60 s. */
  launchBackoff?: { initialMs: number; maxMs: number };
}

export interface ApplyResult {
  name: string;
  unchanged: boolean;
  scaled: boolean;
  revision: number;
  deploymentId: string;
}

type Watcher = (name: string) => void;

export class ServiceScheduler {
  private readonly book: AppBook;
  private readonly controller: AppController;
  private readonly agents = new Map<string, AgentView>();
  private readonly crashes = new Map<string, { count: number; nextAt: number }>();
  /**
   * Apps whose last launch the master refused. A refusal is not a crash (nothing ran) but is
   * as likely to repeat: without a wait the next offer, a few ms later, is refused again.
   */
  private readonly refusals: RetryBackoff<string>;
  /** Launches the last tick asked for, by app: revision and how many. */
  private wants = new Map<string, Want>();
  private readonly watchers = new Set<Watcher>();
  private readonly staging = new Set<string>();
  private readonly background = new Set<Promise<unknown>>();
  private driver: SchedulerDriver | undefined;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  /** A tick at the moment the next instance becomes ready, so steps do not wait for the period. */
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;
  private stopped = false;
  private readonly pins: PinSync;

  constructor(
    private readonly store: ServiceStore,
    private readonly stager: Stager,
    private readonly log: Logger,
    private readonly init: ServiceSchedulerInit,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.book = new AppBook(store);
    this.refusals = new RetryBackoff(init.launchBackoff ?? { initialMs: 1_000, maxMs: 60_000 });
    this.pins = new PinSync(stager, log);
    this.controller = new AppController(this.book, log, {
      want: (app, revision, count, now) => this.want(app, revision, count, now),
      stop: (l, why, now) => this.stopInstance(l, why, now),
      stage: (app, dep) => {
        if (!this.staging.has(dep.id)) this.startStaging(app, dep);
      },
      remove: (name) => this.removeApp(name),
      kick: () => this.kick(),
      wakeAt: (at) => this.wakeAt(at),
    });
  }

  frameworkId(): string | undefined {
    return this.driver?.frameworkId;
  }

  /** The driver's subscription secret, for calls made in the framework's name (pins). */
  session(): string | undefined {
    return this.driver?.session;
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
      if (!(err instanceof FrameworkRemovedError))
        this.log.warn("subscription ended", { error: String(err) });
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
    await Promise.allSettled([...this.background]);
    this.book.flush();
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
        throw new InvalidArgumentError(
          fileName,
          `${err.problems.length} problem(s):\n  ${err.problems.join("\n  ")}`,
        );
      }
      throw err;
    }
    const now = this.now();
    const app = this.book.apps.get(spec.name);
    if (app?.deleting)
      throw new FailedPreconditionError(`app ${spec.name} is being deleted; apply it again once it is gone`);
    if (app) {
      const cur = this.book.revision(app.name, app.revision).spec;
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
    const app = this.book.requireApp(name);
    let to = toRevision;
    if (!to) {
      const prev = [...(this.book.revisions.get(name) ?? [])].reverse().find((r) => r.number < app.revision);
      if (!prev) throw new FailedPreconditionError(`app ${name} has no revision before ${app.revision}`);
      to = prev.number;
    }
    const rev = this.book.revisions.get(name)?.find((r) => r.number === to);
    if (!rev) throw new NotFoundError(`app ${name} has no revision ${to}`);
    if (to === app.revision) throw new FailedPreconditionError(`app ${name} already runs revision ${to}`);
    const dep = this.newRevision(
      { ...rev.spec, instances: app.instances },
      rev.specYaml,
      `undo to revision ${to}`,
      this.now(),
    );
    return { name: dep.app, unchanged: false, scaled: false, revision: dep.toRevision, deploymentId: dep.id };
  }

  scale(name: string, instances: number): void {
    const app = this.book.requireApp(name);
    if (!Number.isInteger(instances) || instances < 0) {
      throw new InvalidArgumentError("instances", `${instances} is not a whole number >= 0`);
    }
    if (instances > LIMITS.instances) {
      throw new InvalidArgumentError(
        "instances",
        `${instances} is over the limit of ${LIMITS.instances.toLocaleString("en-US")}`,
      );
    }
    app.instances = instances;
    app.updatedAt = this.now();
    this.book.put({ apps: [app] });
    this.log.info("app scaled", { app: name, instances });
    this.kick();
  }

  pause(name: string): void {
    const dep = this.book.requireActive(name);
    dep.paused = true;
    this.book.put({ deployments: [dep] });
    this.kick();
  }

  resume(name: string): void {
    const dep = this.book.requireActive(name);
    dep.paused = false;
    dep.lastProgressAt = this.now();
    this.book.put({ deployments: [dep] });
    this.kick();
  }

  promote(name: string): void {
    const dep = this.book.requireActive(name);
    if (dep.state !== "WAITING_PROMOTION") {
      throw new FailedPreconditionError(
        `the deployment of ${name} is ${dep.state}, not waiting for promotion`,
      );
    }
    dep.state = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    dep.step++;
    dep.lastProgressAt = this.now();
    this.book.put({ deployments: [dep] });
    this.kick();
  }

  abort(name: string): void {
    const dep = this.book.requireActive(name);
    const app = this.book.requireApp(name);
    if (dep.rollingBack)
      throw new FailedPreconditionError(`the deployment of ${name} is already rolling back`);
    this.controller.fail(app, dep, "aborted by the operator", this.now(), true);
    this.kick();
  }

  delete(name: string): void {
    const app = this.book.requireApp(name);
    app.deleting = true;
    app.updatedAt = this.now();
    const dep = this.book.activeDeployment(name);
    if (dep) {
      dep.state = "ABORTED";
      dep.message = "the app was deleted";
      dep.endedAt = this.now();
      this.book.put({ deployments: [dep] });
    }
    this.book.put({ apps: [app] });
    this.log.info("app deleting", { app: name });
    this.kick();
  }

  // ---- views ----

  names(): string[] {
    return this.book.names();
  }

  has(name: string): boolean {
    return this.book.apps.has(name);
  }

  view(name: string): AppView {
    const now = this.now();
    const crash = this.crashes.get(name);
    return {
      ...this.book.view(name, now),
      crashBackoffUntil: crash && crash.nextAt > now ? crash.nextAt : 0,
    };
  }

  history(name: string): { revisions: RevisionRecord[]; deployments: DeploymentRecord[] } {
    return this.book.history(name);
  }

  deployment(name: string, id: string): DeploymentRecord | undefined {
    return this.book.deployments.get(name)?.find((d) => d.id === id);
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
      for (const app of [...this.book.apps.values()]) this.controller.reconcileApp(app, now);
      this.resendKills(now);
    } catch (err) {
      this.log.error("tick failed", {
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      });
    }
    this.book.flush();
    this.syncInterest();
    const pinning = this.pins.sync(this.driver?.frameworkId, pinnedReleases(this.book));
    if (pinning) this.track(pinning);
    for (const w of this.watchers) {
      for (const name of this.book.apps.keys()) w(name);
    }
  }

  private want(app: AppRecord, revision: number, count: number, now: number): void {
    const crash = this.crashes.get(app.name);
    if (crash && now < crash.nextAt) return;
    if (!this.refusals.ready(app.name, now * 1000)) return;
    this.wants.set(app.name, { revision, count });
  }

  private startStaging(app: AppRecord, dep: DeploymentRecord): void {
    const spec = this.book.revision(app.name, dep.toRevision).spec;
    if (!spec.release) {
      dep.state = "RUNNING";
      dep.stagingComplete = true;
      dep.lastProgressAt = this.now();
      this.book.put({ deployments: [dep] });
      this.kick();
      return;
    }
    // Every agent that may run a new instance: the known agents the static constraints allow.
    const agentIds = [...this.agents.values()]
      .filter((a) => !staticViolation(spec.constraints, a))
      .map((a) => a.agentId);
    this.staging.add(dep.id);
    dep.message = `staging ${spec.release} on ${agentIds.length || "all"} agent(s)`;
    this.book.put({ deployments: [dep] });
    const done = this.stager
      .stage(spec.release, agentIds, (status) => {
        dep.staging = status.agents;
        this.book.put({ deployments: [dep] });
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
          this.book.put({ deployments: [dep] });
        } else {
          this.controller.fail(app, dep, `staging ${spec.release} failed: ${result.error}`, now);
        }
        this.kick();
      })
      .catch((err) => this.log.error("staging failed", { error: String(err) }));
    this.track(done);
  }

  private newRevision(spec: AppSpec, specYaml: string, cause: string, now: number): DeploymentRecord {
    const dep = this.book.newRevision(spec, specYaml, cause, now);
    this.crashes.delete(spec.name);
    this.refusals.succeeded(spec.name);
    this.log.info("deployment started", {
      app: spec.name,
      revision: dep.toRevision,
      from: dep.fromRevision,
      deployment: dep.id,
    });
    this.kick();
    return dep;
  }

  // ---- instances ----

  private stopInstance(l: Live, why: string, now: number): void {
    if (l.rec.stopping) return;
    l.rec.stopping = true;
    l.rec.message = why;
    this.book.put({ instances: [l.rec] });
    this.sendKill(l, now);
  }

  private sendKill(l: Live, now: number): void {
    const driver = this.driver;
    if (!driver?.frameworkId) return; // resent by resendKills once subscribed
    l.killSentAt = now;
    const rev = this.book.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    const p = driver
      .kill(l.rec.taskId, rev?.spec.killGraceSeconds)
      .catch((err) => this.log.warn("kill failed", { taskId: l.rec.taskId, error: String(err) }));
    this.track(p);
  }

  private resendKills(now: number): void {
    for (const l of this.book.live.values()) {
      if (l.rec.stopping && (now - l.killSentAt) * 1000 > KILL_RESEND_MS) this.sendKill(l, now);
    }
  }

  private countFailure(l: Live, now: number): void {
    const c = this.crashes.get(l.rec.app) ?? { count: 0, nextAt: 0 };
    const backoff = this.init.restartBackoff ?? { initialMs: 1_000, maxMs: 60_000 };
    c.nextAt = now + backoffDelay(c.count, backoff) / 1000;
    c.count++;
    this.crashes.set(l.rec.app, c);
    const dep = this.book.activeDeployment(l.rec.app);
    if (dep) {
      const target = dep.rollingBack ? dep.fromRevision : dep.toRevision;
      if (l.rec.revision === target) {
        dep.failures++;
        this.book.put({ deployments: [dep] });
      }
    }
  }

  private removeApp(name: string): void {
    this.book.apps.delete(name);
    this.book.revisions.delete(name);
    this.book.deployments.delete(name);
    this.crashes.delete(name);
    this.refusals.succeeded(name);
    this.book.put({ deleteApps: [name] });
    this.log.info("app deleted", { app: name });
  }

  // ---- driver events ----

  private async onSubscribed(frameworkId: string): Promise<void> {
    this.store.setFrameworkId(frameworkId);
    const driver = this.driver!;
    const ids = [...this.book.live.keys()];
    try {
      await driver.reconcileKnown(ids);
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
      const apps = [...new Set(tasks.map((t) => this.book.live.get(t.taskId)?.rec.app ?? ""))];
      try {
        await driver.launch(offer, tasks, { refuseSeconds: 1 });
        this.log.info("launched", { agent: offer.agentId, tasks: tasks.map((t) => t.taskId).join(",") });
        for (const app of apps) {
          if (this.refusals.succeeded(app)) this.log.info("launches accepted again", { app });
        }
      } catch (err) {
        for (const t of tasks) {
          this.book.live.delete(t.taskId);
          this.book.put({ deleteInstances: [t.taskId] });
        }
        this.launchRefused(apps, offer, err);
      }
    }
    if (decline.length > 0) {
      await driver
        .decline(decline, { refuseSeconds: REFUSE_SECONDS })
        .catch((err) => this.log.warn("decline failed", { error: String(err) }));
    }
    this.kick();
  }

  /** Backs the apps of a refused launch off: one log line per refusal, and refusals 1 s doubling to 60 s apart. */
  private launchRefused(apps: string[], offer: Offer, err: unknown): void {
    const nowMs = this.now() * 1000;
    for (const app of apps) {
      const { delayMs, step } = this.refusals.failed(app, nowMs);
      this.wants.delete(app);
      this.log.warn("launch refused; backing off", {
        app,
        agent: offer.agentId,
        error: err instanceof Error ? err.message : String(err),
        step,
        retryInSeconds: Math.round(delayMs / 100) / 10,
      });
      this.wakeAt(nowMs / 1000 + delayMs / 1000);
    }
  }

  /** Places what the wants ask for on one offer and persists the instances before their launch. */
  private placeOnOffer(offer: Offer, agent: AgentView, now: number): TaskInfo[] {
    const book = this.book;
    const { tasks, instances } = placeOnOffer({
      offer,
      agent,
      wants: this.wants,
      specOf: (app, revision) => {
        const a = book.apps.get(app);
        return a && !a.deleting ? book.revision(app, revision).spec : undefined;
      },
      placedOf: (app, revision) =>
        [...book.live.values()]
          .filter((l) => l.rec.app === app && l.rec.revision === revision && !l.rec.stopping)
          .map(
            (l) =>
              this.agents.get(l.rec.agentId) ?? {
                agentId: l.rec.agentId,
                hostname: l.rec.hostname,
                attributes: {},
              },
          ),
      known: [...this.agents.values()],
      now,
      newTaskId: (app, revision) => `${app}.${revision}.${randomUUID().slice(0, 8)}`,
    });
    // Persist before the launch is sent: after a crash, reconciliation finds these.
    if (instances.length > 0) {
      for (const rec of instances) book.live.set(rec.taskId, book.fresh(rec));
      book.put({ instances });
      book.flush();
    }
    return tasks;
  }

  private onUpdate(status: TaskStatus): void {
    const l = this.book.live.get(status.taskId);
    const now = this.now();
    if (!l) {
      if (!isTerminal(status.state) && this.driver?.frameworkId) {
        this.log.warn("killing a task no app knows", { taskId: status.taskId });
        this.track(
          this.driver
            .kill(status.taskId)
            .catch((err) => this.log.warn("kill failed", { error: String(err) })),
        );
      }
      return;
    }
    const prev = l.rec.state;
    l.rec.state = status.state;
    if (status.agentId) l.rec.agentId = status.agentId;
    if (status.message && !l.rec.stopping) l.rec.message = status.message;
    if (isTerminal(status.state)) {
      this.book.live.delete(l.rec.taskId);
      this.book.put({ deleteInstances: [l.rec.taskId] });
      if (!l.rec.stopping) {
        // Lost with its agent (gone, drained): replaced, but no fault of the revision.
        const infrastructure = isInfrastructureLoss(status);
        this.log.warn(infrastructure ? "instance lost with its agent" : "instance ended", {
          taskId: l.rec.taskId,
          state: status.state,
          message: status.message,
        });
        if (!infrastructure) this.countFailure(l, now);
      }
    } else {
      this.trackReachability(l, status, prev, now);
      this.onHealth(l, status, now);
      if (prev !== status.state) this.book.put({ instances: [l.rec] });
    }
    this.kick();
  }

  /**
   * An UNREACHABLE instance serves nobody we can see: its health is unknown (healthOf) until
   * its agent is back and it reports RUNNING again; the controller replaces it once it has
   * been unreachable for its `unreachable.replace_after`.
   */
  private trackReachability(l: Live, status: TaskStatus, prev: number, now: number): void {
    if (status.state !== TaskState.TASK_UNREACHABLE) {
      l.unreachableSince = 0;
      return;
    }
    if (prev !== TaskState.TASK_UNREACHABLE) {
      l.unreachableSince = now;
      this.log.warn("instance unreachable with its agent", { taskId: l.rec.taskId, agent: l.rec.agentId });
    }
  }

  /** Health as the status says it; an instance the agent finds unhealthy is replaced. */
  private onHealth(l: Live, status: TaskStatus, now: number): void {
    const hasCheck =
      this.book.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision)?.spec.healthCheck !==
      undefined;
    const prev = l.health;
    l.health = healthOf(status, hasCheck);
    if (l.health === "healthy") {
      l.healthySince = healthySince(status, prev === "healthy" ? l.healthySince : undefined, now);
      if (prev !== "healthy") this.crashes.delete(l.rec.app);
    }
    if (l.health === "unhealthy" && prev !== "unhealthy" && !l.rec.stopping) {
      const why = status.health?.message || "failed its health check";
      this.log.warn("instance unhealthy; replacing it", { taskId: l.rec.taskId, check: why });
      this.countFailure(l, now);
      this.stopInstance(l, `unhealthy: ${why}`, now);
    }
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
    this.book.put({ deleteInstances: [...this.book.live.keys()] });
    this.book.live.clear();
    if (this.stopped) return;
    setImmediate(() => {
      if (!this.stopped) this.connect();
    });
  }

  /** Offers are wanted while some app wants a launch (the SDK sends only the changes). */
  private syncInterest(): void {
    const want = [...this.wants.values()].some((w) => w.count > 0);
    if (this.driver && !this.stopped) this.track(this.driver.setInterest(want));
  }

  // ---- bookkeeping ----

  private track(p: Promise<unknown>): void {
    this.background.add(p);
    const forget = () => this.background.delete(p);
    p.then(forget, forget);
  }
}
