// Staging a deployment's release in waves (wave-plan.ts chooses the agents): the first wave
// before step 1, which moves the deployment from STAGING to RUNNING, and each later wave when
// the controller asks for it. One stager call per wave at a time; a wave left STAGING by a
// restart is staged again. A wave that fails fails the deployment, as the first staging does.
import { type AgentView, staticViolation } from "./constraints.js";
import { stageModeOf } from "./app-spec.js";
import { stepTargets } from "./rollout-plan.js";
import type { SchedulerState } from "./scheduler-state.js";
import type { AppRecord, DeploymentRecord, WaveRecord } from "./service-state.js";
import type { Stager } from "./stager.js";
import { nextWave, waveSizes } from "./wave-plan.js";
import { waveAgents, waveOf } from "./waves.js";

export interface WaveStagingEffects {
  /** Ends the deployment as failed (rolling back when it may). */
  fail(app: AppRecord, dep: DeploymentRecord, why: string, now: number): void;
  kick(): void;
}

export class WaveStaging {
  /** Waves whose stager call is under way (`deployment/step`), and deployments in their first. */
  private readonly staging = new Set<string>();

  constructor(
    private readonly state: Pick<SchedulerState, "book" | "log" | "now" | "agents" | "stopped" | "track">,
    private readonly stager: Stager,
    private readonly fx: WaveStagingEffects,
  ) {}

  /** The staging of a deployment in STAGING, unless it is under way. */
  stageFirst(app: AppRecord, dep: DeploymentRecord): void {
    if (!this.staging.has(dep.id)) this.startStaging(app, dep);
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
      this.fx.kick();
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
  stageWave(app: AppRecord, dep: DeploymentRecord, step: number): void {
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
            this.fx.fail(app, dep, `staging ${release} failed: ${result.error}`, now);
          }
        }
        this.fx.kick();
      })
      .catch((err) => log.error("staging failed", { err }));
    this.state.track(done);
  }

  private waveDone(dep: DeploymentRecord, wave: WaveRecord): void {
    wave.state = "DONE";
    wave.doneAt = this.state.now();
    wave.doneInStep = dep.step;
    wave.doneAfterStepDone = dep.stepDoneAt > 0;
  }
}
