// What each tick does to one app: outside a deployment, keep `instances` of the app's
// revision running (and stop the rest once those are healthy); inside one, walk its steps
// through the pure planner (rollout-plan.ts), check the progress deadline and the failure
// budget, and turn a failed deployment around when it may roll back. It decides; the effects
// (launch wants, kills, staging, wake-ups) are carried out by the scheduler.
import { type Logger, TaskState } from "../../framework-sdk/index.js";
import type { AppBook, Live } from "./app-book.js";
import { DEFAULT_UNREACHABLE, unreachablePolicy } from "./app-spec.js";
import { planStep, stepTargets } from "./rollout-plan.js";
import type { AppRecord, DeploymentRecord } from "./service-state.js";
import { waveOf } from "./waves.js";

export interface ControllerEffects {
  /** Launch `count` instances of the app's `revision` when offers allow (subject to crash backoff). */
  want(app: AppRecord, revision: number, count: number, now: number): void;
  stop(l: Live, why: string, now: number): void;
  /** Start staging the deployment's release, unless it is under way. */
  stage(app: AppRecord, dep: DeploymentRecord): void;
  /**
   * Start staging the wave that serves `step` (0-based) unless it is under way or done; its
   * state is then in `dep.waves` (wave-plan.ts).
   */
  stageWave(app: AppRecord, dep: DeploymentRecord, step: number): void;
  /** The app was drained: forget it. */
  remove(name: string): void;
  /** Tick again soon. */
  kick(): void;
  /** Tick at `at` (seconds). */
  wakeAt(at: number): void;
}

export class AppController {
  constructor(
    private readonly book: AppBook,
    private readonly log: Logger,
    private readonly fx: ControllerEffects,
  ) {}

  reconcileApp(app: AppRecord, now: number): void {
    const live = this.book.instancesOf(app.name);
    if (app.deleting) {
      // Drain: old revisions first, then the rest, so the app serves until its last instance.
      const others = live.filter((l) => l.rec.revision !== app.revision);
      for (const l of others.length > 0 ? others : live) this.fx.stop(l, "the app is deleted", now);
      if (live.length === 0) this.fx.remove(app.name);
      return;
    }
    this.replaceUnreachable(app, live, now);
    const dep = this.book.activeDeployment(app.name);
    if (dep) this.advance(app, dep, live, now);
    else this.maintain(app, live, now);
  }

  /**
   * An instance cut off with its agent gets its revision's `unreachable.replace_after` to come
   * back, counted as unavailable meanwhile (not healthy, and not replaced yet). Then it is
   * stopped, which makes room for a replacement; should its agent return, the master kills
   * it there, so the app never ends up with a duplicate.
   */
  private replaceUnreachable(app: AppRecord, live: Live[], now: number): void {
    for (const l of live) {
      if (l.rec.state !== TaskState.TASK_UNREACHABLE || l.rec.stopping) continue;
      // Reported before a restart of the framework: its clock starts again now.
      if (l.unreachableSince === 0) l.unreachableSince = now;
      const rev = this.book.revisions.get(app.name)?.find((r) => r.number === l.rec.revision);
      const after = rev
        ? unreachablePolicy(rev.spec).replaceAfterSeconds
        : DEFAULT_UNREACHABLE.replaceAfterSeconds;
      const at = l.unreachableSince + after;
      if (now < at) {
        this.fx.wakeAt(at);
        continue;
      }
      this.log.warn("instance unreachable past unreachable.replace_after; replacing it", {
        taskId: l.rec.taskId,
        agent: l.rec.agentId,
      });
      this.fx.stop(l, `unreachable for ${Math.round(now - l.unreachableSince)} s: replaced`, now);
    }
  }

  /** Outside deployments: `instances` of the app's revision, the rest stopped once those are healthy. */
  private maintain(app: AppRecord, live: Live[], now: number): void {
    const mine = live.filter((l) => l.rec.revision === app.revision && !l.rec.stopping);
    const others = live.filter((l) => l.rec.revision !== app.revision && !l.rec.stopping);
    if (mine.length < app.instances) this.fx.want(app, app.revision, app.instances - mine.length, now);
    if (mine.length > app.instances) {
      // Unhealthy ones go first, then those of unknown health, then the newest.
      const rank = { unhealthy: 0, unknown: 1, healthy: 2 } as const;
      const extra = [...mine].sort(
        (a, b) => rank[a.health] - rank[b.health] || b.rec.launchedAt - a.rec.launchedAt,
      );
      for (const l of extra.slice(0, mine.length - app.instances)) this.fx.stop(l, "scaled down", now);
    }
    if (others.length > 0 && mine.filter((l) => l.health === "healthy").length >= app.instances) {
      for (const l of others) this.fx.stop(l, `replaced by revision ${app.revision}`, now);
    }
  }

  private advance(app: AppRecord, dep: DeploymentRecord, live: Live[], now: number): void {
    if (dep.state === "STAGING") {
      this.fx.stage(app, dep);
      // Old instances keep serving (and are replaced if they die) while the release moves.
      this.maintainRevision(app, dep.fromRevision, live, now);
      return;
    }
    const target = dep.rollingBack ? dep.fromRevision : dep.toRevision;
    const policy = this.book.revision(app.name, target).spec.rollout;
    if (dep.paused || dep.state === "WAITING_PROMOTION") {
      // The progress deadline counts the time the deployment may move, not the time it waits.
      dep.lastProgressAt = now;
      const want = dep.paused ? "PAUSED" : dep.state;
      if (dep.state !== want) {
        dep.state = want;
        this.book.put({ deployments: [dep] });
      }
      return;
    }
    const running = dep.rollingBack ? "ROLLING_BACK" : "RUNNING";
    if (dep.state !== running) {
      dep.state = running;
      this.book.put({ deployments: [dep] });
    }
    const targets = stepTargets(policy.steps, app.instances);
    if (dep.step >= targets.length) dep.step = targets.length - 1;
    const news = live.filter((l) => l.rec.revision === target && !l.rec.stopping);
    const ready = news.filter((l) => this.book.isReady(l, now)).length;
    for (const l of news) {
      if (l.health === "healthy" && ready < news.length)
        this.fx.wakeAt(l.healthySince + policy.minHealthySeconds);
    }
    if (ready > dep.bestReady) {
      dep.bestReady = ready;
      dep.lastProgressAt = now;
      this.book.put({ deployments: [dep] });
    }
    if (policy.maxFailures > 0 && dep.failures >= policy.maxFailures) {
      this.fail(
        app,
        dep,
        `${dep.failures} instance(s) of revision ${target} exited or failed their health check${dep.lastFailure ? `; the last: ${dep.lastFailure}` : ""}`,
        now,
      );
      return;
    }
    if (now - dep.lastProgressAt > policy.progressDeadlineSeconds) {
      this.fail(app, dep, `no progress for ${policy.progressDeadlineSeconds} s (progress deadline)`, now);
      return;
    }
    if (dep.stepDoneAt > 0) {
      if (now < dep.stepDoneAt + policy.pauseSeconds) {
        this.fx.wakeAt(dep.stepDoneAt + policy.pauseSeconds);
        return;
      }
      dep.step++;
      dep.stepDoneAt = 0;
      dep.lastProgressAt = now;
      this.book.put({ deployments: [dep] });
    }
    const planned = this.stagedStep(app, dep, targets, now);
    const old = live
      .filter((l) => l.rec.revision !== target && !l.rec.stopping)
      .sort((a, b) => a.rec.launchedAt - b.rec.launchedAt);
    const decision = planStep({
      instances: app.instances,
      policy,
      target: targets[planned]!,
      newLive: news.length,
      newHealthy: news.filter((l) => l.health === "healthy").length,
      newReady: ready,
      old: old.map((l) => ({ taskId: l.rec.taskId, health: l.health })),
    });
    if (decision.start > 0) this.fx.want(app, target, decision.start, now);
    for (const id of decision.stop) {
      const l = this.book.live.get(id);
      if (l) this.fx.stop(l, `replaced by revision ${target}`, now);
    }
    if (!decision.done || planned < dep.step) return;
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
      this.fx.kick();
    }
    this.book.put({ deployments: [dep] });
  }

  /**
   * The step to plan: the current one once its wave holds the release, else the one before
   * (its instances kept up) while the wave stages, which the progress deadline does not count.
   * Once the current step may go on, the next step's wave starts staging, and each later
   * wave once the one before it is done.
   */
  private stagedStep(app: AppRecord, dep: DeploymentRecord, targets: readonly number[], now: number): number {
    if (dep.rollingBack || !dep.waves) return dep.step;
    const wave = waveOf(dep, dep.step);
    if (wave?.state !== "DONE") {
      this.fx.stageWave(app, dep, dep.step);
      const w = waveOf(dep, dep.step);
      if (w && w.state !== "DONE") {
        if (!w.waited && dep.step > 0) {
          w.waited = true;
          dep.message = `step ${dep.step + 1} waits for its agents to hold the release`;
          this.book.put({ deployments: [dep] });
        }
        dep.lastProgressAt = now;
        return Math.max(0, dep.step - 1);
      }
    }
    // The later waves run back to back, one at a time, each as soon as the one before holds
    // the release: staging runs ahead of the steps as far as the links allow, so a wave that
    // takes longer than one step's min healthy time still does not hold its step up.
    for (let s = dep.step + 1; s < targets.length; s++) {
      this.fx.stageWave(app, dep, s);
      if (waveOf(dep, s)?.state !== "DONE") break;
    }
    return dep.step;
  }

  /** Keeps a revision's instances at the app's count (during staging). */
  private maintainRevision(app: AppRecord, revision: number, live: Live[], now: number): void {
    if (revision === 0) return;
    const mine = live.filter((l) => l.rec.revision === revision && !l.rec.stopping);
    if (mine.length < app.instances) this.fx.want(app, revision, app.instances - mine.length, now);
  }

  /** Ends the deployment as failed, or turns it around when it may roll back. */
  fail(app: AppRecord, dep: DeploymentRecord, why: string, now: number, aborted = false): void {
    const policy = this.book.revision(app.name, dep.toRevision).spec.rollout;
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
      this.book.put({ apps: [app] });
      this.log.warn("deployment failed; rolling back", { app: app.name, deployment: dep.id, why });
    } else {
      dep.state = aborted ? "ABORTED" : "FAILED";
      dep.failure ||= why;
      dep.message = why;
      dep.endedAt = now;
      this.log.warn("deployment failed", { app: app.name, deployment: dep.id, why });
    }
    this.book.put({ deployments: [dep] });
  }
}
