// The verdict of one task's health check, as a pure state machine: the check's policy and
// the previous verdict in, a probe's result in, the next verdict out. No timers, no I/O:
// the health checker (health-checker.ts) runs the probes and sends a status update only
// when `state` changes.
//
// Semantics (Mesos's native checks, Kubernetes' liveness probes):
// - HEALTH_UNKNOWN until the first verdict: no probe has passed yet, or only failures inside
//   the grace period were seen.
// - A passing probe makes the task HEALTHY and resets the consecutive failures.
// - A failing probe inside the grace period (counted from the task's start) is ignored
//   while the task has never passed: a slow start is not a failure. Once it has passed,
//   the grace period is over for good.
// - Outside the grace period every failure counts; `failures` in a row make it UNHEALTHY. A
//   HEALTHY task stays HEALTHY while the count is below the threshold.
import { type HealthCheck, HealthState, type TaskHealth } from "../../proto/gen/yard/v1/common.js";

export interface HealthPolicy {
  kind: "http" | "tcp" | "command";
  intervalMs: number;
  timeoutMs: number;
  graceMs: number;
  failures: number;
}

/**
 * Defaults for fields a framework left at 0 (proto3 cannot tell 0 from unset), as
 * Kubernetes' probes: every 10 s, 1 s timeout, unhealthy after 3 failures, no grace period.
 */
export const HEALTH_DEFAULTS = { intervalSeconds: 10, timeoutSeconds: 1, failures: 3 } as const;

export class HealthCheckError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`health_check.${field}: ${message}`);
    this.name = "HealthCheckError";
  }
}

/** The policy of a TaskInfo.health_check; throws HealthCheckError naming a bad field. */
export function healthPolicy(hc: HealthCheck): HealthPolicy {
  if (hc.kind !== "http" && hc.kind !== "tcp" && hc.kind !== "command") {
    throw new HealthCheckError("kind", `${JSON.stringify(hc.kind)} is not one of http, tcp, command`);
  }
  if (hc.kind === "command" && hc.command.trim() === "") {
    throw new HealthCheckError("command", "is empty");
  }
  const seconds = (field: string, v: number, dflt: number): number => {
    if (!Number.isFinite(v) || v < 0)
      throw new HealthCheckError(field, `${v} is not a number of seconds >= 0`);
    return (v === 0 ? dflt : v) * 1000;
  };
  return {
    kind: hc.kind,
    intervalMs: seconds("interval_seconds", hc.intervalSeconds, HEALTH_DEFAULTS.intervalSeconds),
    timeoutMs: seconds("timeout_seconds", hc.timeoutSeconds, HEALTH_DEFAULTS.timeoutSeconds),
    graceMs: seconds("grace_period_seconds", hc.gracePeriodSeconds, 0),
    failures: hc.failures > 0 ? hc.failures : HEALTH_DEFAULTS.failures,
  };
}

export interface ProbeResult {
  ok: boolean;
  /** What the probe saw, e.g. "HTTP 503", "connection refused", "exit 1". */
  message: string;
}

/** The verdict before any probe ran. */
export function unknownHealth(): TaskHealth {
  return { state: HealthState.HEALTH_UNKNOWN, consecutiveFailures: 0, lastCheck: 0, message: "" };
}

/**
 * The verdict after one probe that ended at `atMs`, for a task that started at
 * `startedAtMs` (both Unix ms).
 */
export function nextHealth(
  prev: TaskHealth,
  policy: HealthPolicy,
  result: ProbeResult,
  atMs: number,
  startedAtMs: number,
): TaskHealth {
  const lastCheck = atMs / 1000;
  if (result.ok) {
    return { state: HealthState.HEALTH_HEALTHY, consecutiveFailures: 0, lastCheck, message: "" };
  }
  const inGrace = prev.state === HealthState.HEALTH_UNKNOWN && atMs - startedAtMs < policy.graceMs;
  if (inGrace) return { ...prev, lastCheck, message: result.message };
  const consecutiveFailures = prev.consecutiveFailures + 1;
  const state = consecutiveFailures >= policy.failures ? HealthState.HEALTH_UNHEALTHY : prev.state;
  return { state, consecutiveFailures, lastCheck, message: result.message };
}
