// Rollout step planning. Pure: a snapshot of one app's instances in, a decision out (how many
// new-revision instances to start, which old ones to stop, whether the step is done). The
// scheduler calls it on every tick and carries the decision out; calling it again before
// the decision took effect asks for nothing twice, because launched and stopping
// instances are already in the snapshot.
import { type Amount, amountOf, type RolloutPolicy } from "./app-spec.js";

/** New-revision instances wanted after each step, for `instances` in total. */
export function stepTargets(steps: readonly Amount[], instances: number): number[] {
  const out: number[] = [];
  for (const s of steps) {
    const n = Math.min(instances, Math.max(amountOf(s, instances, "up"), out[out.length - 1] ?? 0));
    out.push(n);
  }
  if (out.length === 0 || out[out.length - 1]! < instances) out.push(instances);
  return out;
}

export interface OldInstance {
  taskId: string;
  healthy: boolean;
}

export interface StepSnapshot {
  /** Instances the app should run. */
  instances: number;
  policy: RolloutPolicy;
  /** New-revision instances wanted at this step. */
  target: number;
  /** New-revision instances launched and not being stopped. */
  newLive: number;
  /** ... of which healthy now. */
  newHealthy: number;
  /** ... of which healthy for at least the min healthy time. */
  newReady: number;
  /** Old-revision instances not being stopped, in the order they should be stopped in. */
  old: readonly OldInstance[];
}

export interface StepDecision {
  /** New-revision instances to launch now. */
  start: number;
  /** Old-revision instances to stop now. */
  stop: string[];
  /** The step's target is reached: enough new instances ready, old ones down to the rest. */
  done: boolean;
}

export function surgeOf(policy: RolloutPolicy, instances: number): number {
  return amountOf(policy.maxSurge, instances, "up");
}

export function unavailableOf(policy: RolloutPolicy, instances: number): number {
  return Math.min(instances, amountOf(policy.maxUnavailable, instances, "down"));
}

/**
 * One step of a rollout, within max surge (instances running above `instances`) and max
 * unavailable (healthy instances below `instances`). Unhealthy old instances are stopped
 * first and freely: they serve nothing, so stopping them costs no availability.
 */
export function planStep(s: StepSnapshot): StepDecision {
  const n = s.instances;
  const surge = surgeOf(s.policy, n);
  const floor = n - unavailableOf(s.policy, n);
  const oldKeep = Math.max(0, n - s.target);
  const start = Math.max(0, Math.min(s.target - s.newLive, n + surge - (s.old.length + s.newLive)));

  const stop: string[] = [];
  let excess = s.old.length - oldKeep;
  const oldHealthy = s.old.filter((o) => o.healthy).length;
  for (const o of s.old) {
    if (excess <= 0) break;
    if (!o.healthy) {
      stop.push(o.taskId);
      excess--;
    }
  }
  let healthy = oldHealthy + s.newHealthy;
  for (const o of s.old) {
    if (excess <= 0 || healthy - 1 < floor) break;
    if (o.healthy) {
      stop.push(o.taskId);
      excess--;
      healthy--;
    }
  }
  const done = s.newReady >= s.target && s.old.length <= oldKeep;
  return { start, stop, done };
}
