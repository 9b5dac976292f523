// The seam between the master's core (master.ts) and the release store: what the core tells
// the release store, and what the release store needs to know of the cluster.
import type { AgentState, FrameworkState } from "../../proto/gen/yard/v1/operator.js";
import type {
  CachedArtifact,
  FetchArtifact,
  FetchProgress,
  MasterMessage,
} from "../../proto/gen/yard/v1/agent.js";

/** Called by the master's core. None of them may throw, except checkTaskRelease. */
export interface ReleaseHooks {
  /** After an agent (re-)registered and was told so; `artifacts` is its verified cache. */
  agentRegistered(agentId: string, artifacts: readonly CachedArtifact[]): void;
  fetchProgress(agentId: string, progress: FetchProgress): void;
  /** Throws InvalidArgumentError naming `field` when `release` is set but unknown. */
  checkTaskRelease(release: string, field: string): void;
  /** What the agent must fetch before launching a task with `release` ("" = nothing). */
  artifactFor(release: string): FetchArtifact | undefined;
  /** Releases (NAME@VERSION) the agent holds verified, for its offers. */
  releasesHeldBy(agentId: string): string[];
  /** The private swarm's key and the agent's tracker passkey, for its Registered message. */
  swarmCredentials(agentId: string): { swarmKey: Buffer; swarmPasskey: string };
}

/** What the release store reads from and sends through the master's core. */
export interface ClusterView {
  /** Sends down the agent's stream; false when the agent is not connected. */
  sendToAgent(agentId: string, msg: MasterMessage): boolean;
  agentStates(): AgentState[];
  /** Every framework the master knows; status INACTIVE once it was removed. */
  frameworkStates(): FrameworkState[];
  /** Ids of the non-terminal tasks whose `release` is `release`. */
  tasksUsingRelease(release: string): string[];
  /** An agent finished a fetch the master asked for: `bytes` in `seconds` (for metrics). */
  fetchDone?(bytes: number, seconds: number): void;
}
