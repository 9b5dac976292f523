// The control loop: a tick every period, soon after each event, and when an instance is due to
// turn ready. Each tick the AppController decides per app what to launch and stop; launches
// are kept as wants (placed on the next offers by offer-handling.ts), stops become kills
// (sent again while no terminal update comes), and a deployment with a release stages it
// first. Crash-loop accounting lives here too, as the tick is what holds launches back.
import { backoffDelay } from "../../framework-sdk/index.js";
import type { Live } from "./app-book.js";
import { AppController } from "./app-controller.js";
import { type AgentView, staticViolation } from "./constraints.js";
import { stageModeOf } from "./app-spec.js";
import { PinSync, pinnedReleases } from "./release-pins.js";
import type { SchedulerState, TickTrigger } from "./scheduler-state.js";
import { stepTargets } from "./rollout-plan.js";
import type { AppRecord, DeploymentRecord, WaveRecord } from "./service-state.js";
import type { Stager } from "./stager.js";
import { nextWave, waveSizes } from "./wave-plan.js";
import { waveAgents, waveOf } from "./waves.js";

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
  /** Deployments whose staging is under way. */
  private readonly staging = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Immediate | undefined;
  private ticked = false;
  /** A tick at the moment the next instance becomes ready, so steps do not wait for the period. */
  private wake: { at: number; timer: NodeJS.Timeout } | undefined;

  constructor(
    private readonly state: SchedulerState,
    private readonly stager: Stager,
    private readonly init: RolloutTickInit = {},
  ) {
    this.pins = new PinSync(stager, state.log);
    this.controller = new AppController(state.book, state.log, {
      want: (app, revision, count, now) => this.want(app, revision, count, now),
      stop: (l, why, now) => this.stopInstance(l, why, now),
      stage: (app, dep) => {
        if (!this.staging.has(dep.id)) this.startStaging(app, dep);
      },
      stageWave: (app, dep, step) => this.stageWave(app, dep, step),
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
    try {
      for (const app of [...state.book.apps.values()]) this.controller.reconcileApp(app, now);
      this.resendKills(now);
    } catch (err) {
      state.log.error("tick failed", {
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
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
    const pinning = this.pins.sync(state.driver?.frameworkId, pinnedReleases(state.book));
    if (pinning) state.track(pinning);
    for (const w of state.watchers) {
      for (const name of state.book.apps.keys()) w(name);
    }
  }

  private want(app: AppRecord, revision: number, count: number, now: number): void {
    const crash = this.state.crashes.get(app.name);
    if (crash && now < crash.nextAt) return;
    if (!this.state.refusals.ready(app.name, now * 1000)) return;
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

  /**
   * The staging before step 1: the first wave (`stage: next`), or every agent that may run a
   * new instance (`stage: all`, or when the framework knows no agent yet: then the master
   * stages on all its active agents). The deployment starts RUNNING once it is done.
   */
  private startStaging(app: AppRecord, dep: DeploymentRecord): void {
    const { book } = this.state;
    const spec = book.revision(app.name, dep.toRevision).spec;
    if (!spec.release) {
      dep.state = "RUNNING";
      dep.stagingComplete = true;
      dep.lastProgressAt = this.state.now();
      book.put({ deployments: [dep] });
      this.kick();
      return;
    }
    dep.waves ??= [];
    let wave = waveOf(dep, 0);
    if (!wave) {
      const steps = stepTargets(spec.rollout.steps, app.instances).length;
      const eligible = this.eligible(app, dep);
      const all = stageModeOf(spec.rollout) === "all" || eligible.length === 0;
      const agents = all ? eligible.map((a) => a.agentId) : this.waveTargets(app, dep, 0, eligible);
      wave = this.newWave(dep, 0, all ? steps - 1 : 0, agents);
    }
    dep.message = `staging ${spec.release} on ${wave.agents.length || "all"} agent(s)`;
    book.put({ deployments: [dep] });
    this.runWave(app, dep, wave, spec.release);
  }

  /** Starts the wave that serves `step`, unless it exists; resumes one a restart left STAGING. */
  private stageWave(app: AppRecord, dep: DeploymentRecord, step: number): void {
    const spec = this.state.book.revision(app.name, dep.toRevision).spec;
    if (!spec.release || !dep.waves) return;
    let wave = waveOf(dep, step);
    if (!wave) {
      wave = this.newWave(dep, step, step, this.waveTargets(app, dep, step, this.eligible(app, dep)));
      this.state.book.put({ deployments: [dep] });
    }
    this.runWave(app, dep, wave, spec.release);
  }

  /** Agents the spec's LIKE/UNLIKE constraints allow, among those the framework knows. */
  private eligible(app: AppRecord, dep: DeploymentRecord): AgentView[] {
    const spec = this.state.book.revision(app.name, dep.toRevision).spec;
    return [...this.state.agents.values()].filter((a) => !staticViolation(spec.constraints, a));
  }

  private waveTargets(app: AppRecord, dep: DeploymentRecord, step: number, eligible: AgentView[]): string[] {
    const spec = this.state.book.revision(app.name, dep.toRevision).spec;
    const targets = stepTargets(spec.rollout.steps, app.instances);
    const sizes = waveSizes(targets, app.instances, eligible.length);
    const holders = new Set(eligible.filter((a) => a.releases?.includes(spec.release)).map((a) => a.agentId));
    const size = sizes[Math.min(step, sizes.length - 1)] ?? eligible.length;
    return nextWave({ eligible, staged: waveAgents(dep), holders, size });
  }

  private newWave(dep: DeploymentRecord, step: number, through: number, agentIds: string[]): WaveRecord {
    const wave: WaveRecord = {
      step,
      through,
      state: "STAGING",
      agents: agentIds.map((id) => ({
        agentId: id,
        hostname: this.state.agents.get(id)?.hostname ?? "",
        state: "PENDING",
        downloaded: 0,
        size: 0,
        error: "",
      })),
      startedAt: this.state.now(),
      doneAt: 0,
      doneInStep: 0,
      doneAfterStepDone: false,
      waited: false,
    };
    dep.waves!.push(wave);
    return wave;
  }

  /** Stages one wave (once at a time); its end moves the deployment on, or fails it. */
  private runWave(app: AppRecord, dep: DeploymentRecord, wave: WaveRecord, release: string): void {
    const key = `${dep.id}/${wave.step}`;
    if (wave.state !== "STAGING" || this.staging.has(key)) return;
    const { book, log } = this.state;
    const first = wave.step === 0;
    if (wave.agents.length === 0 && !first) {
      // Its step runs on agents of earlier waves: nothing to move.
      this.waveDone(dep, wave);
      book.put({ deployments: [dep] });
      return;
    }
    this.staging.add(key);
    if (first) this.staging.add(dep.id);
    const done = this.stager
      .stage(
        release,
        wave.agents.map((a) => a.agentId),
        (status) => {
          wave.agents = status.agents;
          if (first) dep.staging = status.agents;
          book.put({ deployments: [dep] });
        },
      )
      .then((result) => {
        this.staging.delete(key);
        if (first) this.staging.delete(dep.id);
        if (this.state.stopped || book.activeDeployment(app.name) !== dep) return;
        const now = this.state.now();
        if (result.ok) {
          this.waveDone(dep, wave);
          if (first && dep.state === "STAGING") {
            dep.state = "RUNNING";
            dep.stagingComplete = true;
            dep.lastProgressAt = now;
            dep.message = `${release} staged`;
          }
          book.put({ deployments: [dep] });
        } else {
          wave.state = "FAILED";
          book.put({ deployments: [dep] });
          // A rollback runs the previous revision: a wave of the new one no longer matters.
          if (!dep.rollingBack) {
            this.controller.fail(app, dep, `staging ${release} failed: ${result.error}`, now);
          }
        }
        this.kick();
      })
      .catch((err) => log.error("staging failed", { error: String(err) }));
    this.state.track(done);
  }

  private waveDone(dep: DeploymentRecord, wave: WaveRecord): void {
    wave.state = "DONE";
    wave.doneAt = this.state.now();
    wave.doneInStep = dep.step;
    wave.doneAfterStepDone = dep.stepDoneAt > 0;
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
      .catch((err) => log.warn("kill failed", { taskId: l.rec.taskId, error: String(err) }));
    this.state.track(p);
  }

  private resendKills(now: number): void {
    for (const l of this.state.book.live.values()) {
      if (l.rec.stopping && (now - l.killSentAt) * 1000 > KILL_RESEND_MS) this.sendKill(l, now);
    }
  }

  /** An instance of the app failed: back its launches off, and count it against the deployment. */
  countFailure(l: Live, now: number): void {
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
