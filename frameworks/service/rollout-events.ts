// The service framework's events for the cluster's stream (SchedulerDriver.publishEvents):
// what changed in the book since the last look, found by comparing snapshots rather than by
// hooks at every place that moves a deployment, so no change is missed and none is told twice.
// Pure: the book's views in, events out.
//   DEPLOYMENT_<STATE>  a deployment entered a state (RUNNING, PAUSED, SUCCEEDED, ROLLED_BACK…)
//   STEP_STARTED        a deployment moved to its next step
//   STAGING_PROGRESS    a wave of release staging held the release on more agents, or ended
//   INSTANCE_HEALTHY / INSTANCE_UNHEALTHY  an instance's health check changed its verdict
import type { FrameworkEvent } from "../../framework-sdk/index.js";
import type { InstanceHealth } from "./instance-health.js";
import { type DeploymentRecord, ENDED_STATES } from "./service-state.js";

interface DeploymentSeen {
  state: string;
  step: number;
  /** Per wave: its state and how many of its agents hold the release. */
  waves: string[];
}

export interface InstanceSeen {
  taskId: string;
  app: string;
  agentId: string;
  health: InstanceHealth;
}

type Event = Partial<FrameworkEvent> & { type: string };

export class RolloutEvents {
  private readonly deployments = new Map<string, DeploymentSeen>();
  private readonly health = new Map<string, InstanceHealth>();
  private primed = false;

  /**
   * Events for what changed since the last call. The first call (a framework that just started,
   * perhaps again) tells only of deployments under way: what had ended and how instances stood
   * were told before it stopped.
   */
  changes(
    deployments: readonly DeploymentRecord[],
    instances: readonly InstanceSeen[],
    steps: (d: DeploymentRecord) => number,
  ): Event[] {
    const out: Event[] = [];
    const current = new Set<string>();
    for (const d of deployments) {
      current.add(d.id);
      const seen = this.deployments.get(d.id);
      const waves = (d.waves ?? []).map(
        (w) => `${w.state}:${w.agents.filter((a) => a.state === "DONE").length}`,
      );
      const object = `app/${d.app}`;
      if ((!seen && (this.primed || !ENDED_STATES.has(d.state))) || (seen && seen.state !== d.state)) {
        out.push({
          type: `DEPLOYMENT_${d.state}`,
          object,
          message: `deployment ${d.id} of ${d.app} (revision ${d.fromRevision} → ${d.toRevision}): ${d.state}${d.message ? `: ${d.message}` : ""}`,
        });
      }
      if (seen && seen.step !== d.step && !ENDED_STATES.has(d.state)) {
        out.push({
          type: "STEP_STARTED",
          object,
          message: `deployment ${d.id} of ${d.app}: step ${d.step + 1} of ${steps(d)}`,
        });
      }
      if (seen) {
        for (const [i, w] of (d.waves ?? []).entries()) {
          if (seen.waves[i] === waves[i]) continue;
          const done = w.agents.filter((a) => a.state === "DONE").length;
          out.push({
            type: "STAGING_PROGRESS",
            object,
            message: `deployment ${d.id} of ${d.app}: release staged on ${done} of ${w.agents.length} agent(s) for step ${w.step + 1} (${w.state})`,
          });
        }
      }
      this.deployments.set(d.id, { state: d.state, step: d.step, waves });
    }
    for (const id of [...this.deployments.keys()]) if (!current.has(id)) this.deployments.delete(id);

    const live = new Set<string>();
    for (const i of instances) {
      live.add(i.taskId);
      const was = this.health.get(i.taskId);
      this.health.set(i.taskId, i.health);
      // "unknown" is not a verdict (not running yet, or no check result yet).
      if (!this.primed || i.health === was || i.health === "unknown") continue;
      out.push({
        type: i.health === "healthy" ? "INSTANCE_HEALTHY" : "INSTANCE_UNHEALTHY",
        object: `app/${i.app}`,
        taskId: i.taskId,
        agentId: i.agentId,
        message: `${i.taskId} is ${i.health}`,
      });
    }
    for (const id of [...this.health.keys()]) if (!live.has(id)) this.health.delete(id);
    this.primed = true;
    return out;
  }
}
