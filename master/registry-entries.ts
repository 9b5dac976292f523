// What the master keeps in memory per agent, framework and task, beside what it stores.
import type {
  AgentConditions,
  AgentInfo,
  FrameworkInfo,
  Resources,
  TaskStatus,
} from "../proto/gen/yard/v1/common.js";
import type { TaskKey } from "../common/task-key.js";
import type { AgentLink, FrameworkLink } from "./links.js";
import type { AgentStatusName, FrameworkStatusName, StoredTask } from "./store/registry-store.js";

export interface AgentEntry {
  info: AgentInfo;
  /** sha256 (hex) of the secret that proves this agent id. */
  secretHash: string;
  status: AgentStatusName;
  draining: boolean;
  drainKillAtMs?: number;
  registeredAt: number;
  lastSeenMs: number;
  /** When it became UNREACHABLE; the gone timeout runs from here. */
  unreachableSinceMs?: number;
  link?: AgentLink;
  /** As the agent last reported them (Register, heartbeats); not stored: an agent reports them again. */
  conditions: AgentConditions;
  /** Non-terminal tasks on this agent (of every framework, hence keys). */
  tasks: Set<TaskKey>;
  /**
   * Tasks the agent came back with that the master has as ended (or never knew), killed at
   * its re-registration. Their resources count as allocated until the agent reports their
   * end, so that nothing is offered on top of processes that still run.
   */
  doomed: Map<TaskKey, { frameworkId: string; resources: Resources }>;
  /** Acks waiting for the current commit, sent together after it. */
  ackOutbox: { taskId: string; uuid: string; frameworkId: string }[];
}

export interface FrameworkEntry {
  info: FrameworkInfo;
  /** The principal that registered the framework ("" for one registered before principals). */
  principal: string;
  /** sha256 (hex) of the framework secret (failover proof); "" until one is issued. */
  secretHash: string;
  status: FrameworkStatusName;
  registeredAt: number;
  disconnectedAtMs: number;
  suppressed: boolean;
  link?: FrameworkLink;
  lastHeartbeatMs: number;
  /**
   * Tasks whose latest status (with a uuid) the framework has not acknowledged yet, by task id
   * (this framework's own namespace), with when it was last sent.
   */
  unacked: Map<string, number>;
  /** Ids of the non-terminal tasks of this framework (its own namespace). */
  tasks: Set<string>;
  /** Updates waiting for the current commit, sent together after it. */
  outbox: TaskStatus[];
  /** The secret of the current subscription (Subscribed.session); not kept across restarts. */
  session: string;
  /** Torn down or past its failover timeout: its tasks are being killed. */
  removing: boolean;
  /** The allocator has forgotten it (all its tasks ended after the removal). */
  forgotten: boolean;
  /**
   * When it was last sent an offer, or subscribed or revived (the starvation gauge counts from
   * there); in memory only.
   */
  lastOfferMs?: number;
}

export interface TaskEntry extends StoredTask {
  /** Recent update uuids from the agent, to drop retransmissions. */
  seenUuids: string[];
  /** When this master accepted its launch (metrics: accept to running); in memory only. */
  acceptedAtMs?: number;
  /** When the master received (or made) its latest status (metrics: delivery); in memory only. */
  statusAtMs?: number;
}
