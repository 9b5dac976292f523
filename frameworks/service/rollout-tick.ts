// The control loop: a tick every period, soon after each event, and when an instance is due to
// turn ready. Each tick the AppController decides per app what to launch and stop; launches
// are kept as wants (placed on the next offers by offer-handling.ts), stops become kills
// (sent again while no terminal update comes), and a deployment with a release stages it
// in waves (wave-staging.ts). Crash-loop accounting lives here too, as the tick is what holds launches back.
import { PendingReport } from "./pending-report.js";
import { type InstanceSeen, RolloutEvents } from "./rollout-events.js";
import { backoffDelay } from "../../framework-sdk/index.js";
import type { Live } from "./app-book.js";
import { AppController } from "./app-controller.js";
import { PinSync, pinnedReleases } from "./release-pins.js";
import type { SchedulerState, TickTrigger } from "./scheduler-state.js";
import type { AppRecord, DeploymentRecord } from "./service-state.js";
import type { Stager } from "./stager.js";
import { WaveStaging } from "./wave-staging.js";

/** A kill that got no terminal update within this long is sent again. */
const KILL_RESEND_MS = 10_000;

export interface RolloutTickInit {
  /** Tick period, default 250 ms. */
  tickMs?: number;
  /** Crash-loop backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
}

export class RolloutTick implements TickTrigger {
  private readonly controller: AppController;
  private readonly pins: PinSync;
  private readonly waves: WaveStaging;
  private readonly pending: PendingReport;
  private readonly rolloutEvents = new RolloutEvents();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private ticked = false;
  /** A tick at the moment the next instance becomes ready, so steps do not wait for the period. */
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly state: SchedulerState,
    stager: Stager,
    private readonly init: RolloutTickInit = {},
  ) {
    this.pending = new PendingReport(state);
    this.pins = new PinSync(stager, state.log);
    this.waves = new WaveStaging(state, stager, {
      fail: (app, dep, why, now) => this.controller.fail(app, dep, why, now),
      kick: () => this.kick(),
    });
    this.controller = new AppController(state.book, state.log, {
      want: (app, revision, count, now) => this.want(app, revision, count, now),
      stop: (l, why, now) => this.stopInstance(l, why, now),
      stage: (app, dep) => this.waves.stageFirst(app, dep),
      stageWave: (app, dep, step) => this.waves.stageWave(app, dep, step),
      remove: (name) => this.removeApp(name),
      kick: () => this.kick(),
      wakeAt: (at) => this.wakeAt(at),
    });
  }

  /** Starts the periodic tick (once). */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.init.tickMs ?? 250);
  }

  /** Stops every timer; `state.stopped` keeps new ones from being set. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearImmediate(this.soon);
    if (this.wake) clearTimeout(this.wake.timer);
  }

  kick(): void {
    if (this.soon || this.state.stopped) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      this.tick();
    });
  }

  wakeAt(at: number): void {
    if (this.state.stopped || (this.wake && this.wake.at <= at)) return;
    if (this.wake) clearTimeout(this.wake.timer);
    const timer = setTimeout(
      () => {
        this.wake = undefined;
        this.tick();
      },
      Math.max(0, (at - this.state.now()) * 1000) + 5,
    );
    this.wake = { at, timer };
  }

  /** Ends the app's active deployment as failed (rolling back when it may). */
  fail(app: AppRecord, dep: DeploymentRecord, why: string, now: number, aborted = false): void {
    this.controller.fail(app, dep, why, now, aborted);
  }

  private tick(): void {
    const { state } = this;
    if (state.stopped) return;
    const now = state.now();
    state.wants = new Map();
    state.heldBack = new Map();
    try {
      for (const app of [...state.book.apps.values()]) this.controller.reconcileApp(app, now);
      this.resendKills(now);
    } catch (err) {
      state.log.error("tick failed", {
        err,
      });
    }
    state.book.flush();
    if (!this.ticked) {
      // Operators (and tests) learn when a restarted framework resumes planning, and whether it
      // did so before hearing from the master; what it decided is stored by now.
      this.ticked = true;
      state.log.info("first tick after start", {
        apps: state.book.apps.size,
        subscribed: state.driver?.session !== undefined,
      });
    }
    this.syncInterest();
    state.driver?.reportPending(this.pending.build());
    this.publishChanges(now);
    const pinning = this.pins.sync(state.driver?.frameworkId, pinnedReleases(state.book));
    if (pinning) state.track(pinning);
    for (const w of state.watchers) {
      for (const name of state.book.apps.keys()) w(name);
    }
  }

  /** Deployments, steps, staging and health that changed in this tick, into the event stream. */
  private publishChanges(now: number): void {
    const { book, driver } = this.state;
    if (!driver) return;
    // The latest deployment of each app, and every live instance: one pass over each.
    const deployments: DeploymentRecord[] = [];
    for (const deps of book.deployments.values()) {
      const last = deps[deps.length - 1];
      if (last) deployments.push(last);
    }
    const instances: InstanceSeen[] = [];
    for (const l of book.live.values())
      instances.push({ taskId: l.rec.taskId, app: l.rec.app, agentId: l.rec.agentId, health: l.health });
    // The step count, only for the deployments whose step changed (book.view computes it).
    const steps = (d: DeploymentRecord) => book.view(d.app, now).deploymentSteps.length;
    const events = this.rolloutEvents.changes(deployments, instances, steps);
    if (events.length > 0) driver.publishEvents(events);
  }

  private want(app: AppRecord, revision: number, count: number, now: number): void {
    const crash = this.state.crashes.get(app.name);
    if (crash && now < crash.nextAt) {
      const why = `${crash.count} instance(s) in a row failed; crash-loop backoff`;
      this.state.heldBack.set(app.name, { count, until: crash.nextAt, why });
      return;
    }
    if (!this.state.refusals.ready(app.name, now * 1000)) {
      const until = (this.state.refusals.readyAt(app.name) ?? now * 1000) / 1000;
      this.state.heldBack.set(app.name, { count, until, why: "the master refused its last launch" });
      return;
    }
    this.state.wants.set(app.name, { revision, count });
  }

  /** Offers are wanted while some app wants a launch (the SDK sends only the changes). */
  private syncInterest(): void {
    const { state } = this;
    const want = [...state.wants.values()].some((w) => w.count > 0);
    // A suppress now would rescind offers whose launches wait for their instances to be stored;
    // the kick at the end of that offer handling syncs again.
    if (!want && state.placing > 0) return;
    if (state.driver && !state.stopped) state.track(state.driver.setInterest(want));
  }

  // ---- instances ----

  /** Asks the master to kill the instance, once; resendKills repeats it while it lives. */
  stopInstance(l: Live, why: string, now: number): void {
    if (l.rec.stopping) return;
    l.rec.stopping = true;
    l.rec.message = why;
    this.state.book.put({ instances: [l.rec] });
    this.sendKill(l, now);
  }

  private sendKill(l: Live, now: number): void {
    const { driver, book, log } = this.state;
    if (!driver?.frameworkId) return; // resent by resendKills once subscribed
    l.killSentAt = now;
    const rev = book.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    const p = driver
      .kill(l.rec.taskId, rev?.spec.killGraceSeconds)
      .catch((err) => log.warn("kill failed", { taskId: l.rec.taskId, err }));
    this.state.track(p);
  }

  private resendKills(now: number): void {
    for (const l of this.state.book.live.values()) {
      if (l.rec.stopping && (now - l.killSentAt) * 1000 > KILL_RESEND_MS) this.sendKill(l, now);
    }
  }

  /** An instance of the app failed: back its launches off, and count it against the deployment. */
  countFailure(l: Live, now: number, why: string): void {
    const { crashes, book } = this.state;
    const c = crashes.get(l.rec.app) ?? { count: 0, nextAt: 0 };
    const backoff = this.init.restartBackoff ?? { initialMs: 1_000, maxMs: 60_000 };
    c.nextAt = now + backoffDelay(c.count, backoff) / 1000;
    c.count++;
    crashes.set(l.rec.app, c);
    const dep = book.activeDeployment(l.rec.app);
    if (dep) {
      const target = dep.rollingBack ? dep.fromRevision : dep.toRevision;
      if (l.rec.revision === target) {
        dep.failures++;
        // The cause stays on the deployment: rollout status shows it, and the failure names it.
        dep.lastFailure = `instance ${l.rec.taskId} on ${l.rec.hostname || l.rec.agentId} ${why}`;
        dep.message = dep.lastFailure;
        book.put({ deployments: [dep] });
      }
    }
  }

  private removeApp(name: string): void {
    const { book, log } = this.state;
    book.apps.delete(name);
    book.revisions.delete(name);
    book.deployments.delete(name);
    this.state.crashes.delete(name);
    this.state.refusals.succeeded(name);
    book.put({ deleteApps: [name] });
    log.info("app deleted", { app: name });
  }
}
