// The service framework's records: apps, revisions, instances, deployments. Plain data,
// persisted as they are by ServiceStore. The health of an instance is not persisted: it comes
// with its task status, which a restarted framework gets again by reconciliation.
import type { AppSpec } from "./app-spec.js";

export interface AppRecord {
  name: string;
  /** The revision the app runs, or moves to during a deployment (its source during a rollback). */
  revision: number;
  instances: number;
  deleting: boolean;
  updatedAt: number;
}

export interface RevisionRecord {
  app: string;
  number: number;
  spec: AppSpec;
  specYaml: string;
  createdAt: number;
  changeCause: string;
}

export interface InstanceRecord {
  taskId: string;
  app: string;
  revision: number;
  agentId: string;
  hostname: string;
  port: number;
  /** TaskState. */
  state: number;
  launchedAt: number;
  message: string;
  /** The framework asked the master to kill it. */
  stopping: boolean;
}

export type DeploymentState =
  | "STAGING"
  | "RUNNING"
  | "PAUSED"
  | "WAITING_PROMOTION"
  | "ROLLING_BACK"
  | "SUCCEEDED"
  | "FAILED"
  | "ROLLED_BACK"
  | "ABORTED"
  | "SUPERSEDED";

export const ENDED_STATES: ReadonlySet<DeploymentState> = new Set([
  "SUCCEEDED",
  "FAILED",
  "ROLLED_BACK",
  "ABORTED",
  "SUPERSEDED",
]);

export interface StagingAgent {
  agentId: string;
  hostname: string;
  state: string;
  downloaded: number;
  size: number;
  error: string;
}

export interface DeploymentRecord {
  id: string;
  app: string;
  fromRevision: number;
  toRevision: number;
  state: DeploymentState;
  /** Set by `rollout pause`; the state shows PAUSED while it is. */
  paused: boolean;
  rollingBack: boolean;
  /** 0-based index of the current step. */
  step: number;
  /** When the current step's target was reached (for the pause between steps); 0 = not yet. */
  stepDoneAt: number;
  /** Last time the deployment moved (an instance became ready, a step ended). */
  lastProgressAt: number;
  /** Best count of ready target-revision instances seen, to tell progress from churn. */
  bestReady: number;
  /** Target-revision instances that exited or turned unhealthy in this deployment. */
  failures: number;
  /** The cause of the last of those failures ("instance … on host … ended FAILED: …"). */
  lastFailure?: string;
  message: string;
  failure: string;
  startedAt: number;
  endedAt: number;
  /** The first staging (before step 1): its agents' progress. */
  staging: StagingAgent[];
  stagingComplete: boolean;
  /**
   * The waves of release staging (wave-plan.ts), in order; absent on deployments recorded
   * before waves existed (their one staging covered every step).
   */
  waves?: WaveRecord[];
}

/** One wave of staging: the agents that host the new instances of steps `step`..`through`. */
export interface WaveRecord {
  /** 0-based index of the first step it serves. */
  step: number;
  /** 0-based index of the last step it serves (`step`, or the last with `stage: all`). */
  through: number;
  state: "STAGING" | "DONE" | "FAILED";
  agents: StagingAgent[];
  startedAt: number;
  doneAt: number;
  /**
   * The deployment's step (0-based) when the wave was done, and whether that step had
   * reached its target then: a wave done in step k−1 before it was done never held step k up.
   */
  doneInStep: number;
  doneAfterStepDone: boolean;
  /** Its step was due (the previous one done) before its agents held the release. */
  waited: boolean;
}

export function isEnded(d: DeploymentRecord): boolean {
  return ENDED_STATES.has(d.state);
}
