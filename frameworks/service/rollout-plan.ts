// Rollout step planning. Pure: a snapshot of one app's instances in, a decision out (how many
// new-revision instances to start, which old ones to stop, whether the step is done). The
// scheduler calls it on every tick and carries the decision out; calling it again before
// the decision took effect asks for nothing twice, because launched and stopping
// instances are already in the snapshot.
import { type Amount, amountOf, type RolloutPolicy } from "./app-spec.js";
import type { InstanceHealth } from "./instance-health.js";

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
  health: InstanceHealth;
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
 * unavailable (healthy instances below `instances`). Old instances are stopped in three
 * passes: unhealthy ones first and freely (the agent found they serve nothing); then those of
 * unknown health, while the healthy ones alone still reach the floor (an unknown instance may
 * be serving: it is never stopped as if it were not); then healthy ones, while the floor holds
 * without them.
 */
export function planStep(s: StepSnapshot): StepDecision {
  const n = s.instances;
  const surge = surgeOf(s.policy, n);
  const floor = n - unavailableOf(s.policy, n);
  const oldKeep = Math.max(0, n - s.target);
  const start = Math.max(0, Math.min(s.target - s.newLive, n + surge - (s.old.length + s.newLive)));

  const stop: string[] = [];
  let excess = s.old.length - oldKeep;
  let healthy = s.old.filter((o) => o.health === "healthy").length + s.newHealthy;
  const pass = (health: InstanceHealth, allowed: () => boolean) => {
    for (const o of s.old) {
      if (excess <= 0 || !allowed()) return;
      if (o.health !== health) continue;
      stop.push(o.taskId);
      excess--;
      if (health === "healthy") healthy--;
    }
  };
  pass("unhealthy", () => true);
  pass("unknown", () => healthy >= floor);
  pass("healthy", () => healthy - 1 >= floor);
  const done = s.newReady >= s.target && s.old.length <= oldKeep;
  return { start, stop, done };
}
