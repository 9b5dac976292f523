// What the framework knows of an instance's health, read only from its task status: the
// agent's verdict (TaskStatus.health) for an app with a health check, RUNNING for an app
// without one. Pure. The framework runs no checks itself, so a restart of it changes
// nothing: the master's reconciliation answers carry the same statuses.
import { HealthState, TaskState, type TaskStatus } from "../../framework-sdk/index.js";

/**
 * "unknown": no verdict yet (not running, within the grace period, or not heard of since the
 * framework started). Never counted as unhealthy: an unknown instance may well be serving.
 */
export type InstanceHealth = "unknown" | "healthy" | "unhealthy";

export function healthOf(status: TaskStatus, hasCheck: boolean): InstanceHealth {
  if (status.state !== TaskState.TASK_RUNNING) return "unknown";
  if (!hasCheck) return "healthy";
  switch (status.health?.state) {
    case HealthState.HEALTH_HEALTHY:
      return "healthy";
    case HealthState.HEALTH_UNHEALTHY:
      return "unhealthy";
    default:
      return "unknown";
  }
}

/**
 * Since when (seconds) an instance that `status` says is healthy has been so: the status's
 * own time, which is the agent's at the verdict (or at RUNNING without a check). The agent
 * sends an update only when the verdict changes, so the latest status of a healthy instance,
 * the one a reconciliation answers with, is the one that made it healthy: a restarted
 * framework counts the min healthy time from the same moment. An earlier start already
 * known wins; a time ahead of ours (clock skew) counts as now.
 */
export function healthySince(status: TaskStatus, known: number | undefined, now: number): number {
  const at = status.timestamp > 0 ? Math.min(status.timestamp, now) : now;
  return known !== undefined ? Math.min(known, at) : at;
}
