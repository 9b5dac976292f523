// The master's durable registry, behind one interface with two backends: SQLite in the data
// dir (sqlite-registry-store.ts, one master, the default) and etcd (etcd-registry-store.ts,
// several masters, one of which leads and writes). Both pass one contract suite
// (test/master/store/registry-store-contract.ts).
//
// Reads answer at once from what the store holds. Writes are recorded at once for reads,
// and are durable once afterCommit runs: SQLite outside a group at once, inside a group at its
// end; etcd at the end of the batch of the current turn. Anything the master promises to
// someone else (a reply, an ack, a forwarded message) about a write waits for afterCommit.
import type {
  AgentInfo,
  FrameworkInfo,
  TaskInfo,
  TaskStatus,
  TaskUsage,
} from "../../proto/gen/yard/v1/common.js";
import type { ClusterEvent } from "../../proto/gen/yard/v1/operator.js";
import type { Release } from "../../proto/gen/yard/v1/release.js";

export type AgentStatusName = "ACTIVE" | "DISCONNECTED" | "UNREACHABLE" | "LOST";
export type FrameworkStatusName = "CONNECTED" | "DISCONNECTED" | "INACTIVE";

export interface StoredAgent {
  info: AgentInfo;
  /** sha256 (hex) of the agent's secret. */
  secretHash: string;
  status: AgentStatusName;
  draining: boolean;
  registeredAt: number;
  /**
   * Unix seconds of the agent's last contact, as of the last write of the agent: it is stored
   * with a change of the agent, and a put that changes nothing else may leave it as it was
   * (the master keeps the live value in memory; a recovered master starts every agent's
   * clock afresh).
   */
  lastSeen: number;
}

export interface StoredFramework {
  info: FrameworkInfo;
  /** The principal that registered the framework (master/auth/): only it may subscribe with the id. */
  principal: string;
  /** sha256 (hex) of the framework secret issued at registration: the proof a failover presents. */
  secretHash: string;
  status: FrameworkStatusName;
  registeredAt: number;
  disconnectedAt: number;
  suppressed: boolean;
}

export interface StoredTask {
  info: TaskInfo;
  frameworkId: string;
  status: TaskStatus;
  /** Whether the framework acknowledged `status` (only meaningful when it has a uuid). */
  acknowledged: boolean;
  killRequested: boolean;
  createdAt: number;
  usage?: TaskUsage;
}

/** What the master last knew of one agent's copy of one release (master/releases/staging.ts). */
export interface StoredFetch {
  /** NAME@VERSION */
  release: string;
  agentId: string;
  state: string;
  /** A Stage call asked this agent to hold the release. */
  staged: boolean;
  downloaded: number;
  size: number;
  error: string;
  updatedAt: number;
}

/** A framework's pin on a release: Remove refuses the release while it is pinned. */
export interface StoredPin {
  frameworkId: string;
  /** NAME@VERSION */
  release: string;
  pinnedAt: number;
}

export interface RegistryStore {
  /** Which backend: "sqlite" or "etcd" (GetMasters reports it). */
  readonly kind: "sqlite" | "etcd";

  /**
   * Runs `fn` (synchronous) so that its writes are stored all together or not at all; if it
   * throws, none of them is kept. Nested calls undo only their own writes when they throw.
   */
  transaction<T>(fn: () => T): T;
  /**
   * Lets the writes of this turn of the event loop share one commit (SQLite opens a group that
   * commits at the end of the turn; etcd batches every turn anyway).
   */
  beginGroup(): void;
  /** Commits the open group now, if any (SQLite); a no-op where batches commit themselves. */
  commitGroup(): void;
  /** Runs `fn` once everything written so far is durable; never if that write failed or was refused. */
  afterCommit(fn: () => void): void;
  /** Told when a group commit fails (SQLite): nothing of it is kept, nothing that waited runs. */
  onGroupFailure?: (err: unknown) => void;

  putAgent(a: StoredAgent): void;
  loadAgents(): StoredAgent[];

  putFramework(f: StoredFramework): void;
  deleteFramework(id: string): void;
  loadFrameworks(): StoredFramework[];

  putTask(t: StoredTask, terminal: boolean, now: number): void;
  /** Records a stored task's new status and flags (its TaskInfo never changes); unknown tasks are ignored. */
  updateTask(t: StoredTask, terminal: boolean, now: number): void;
  markAcknowledged(frameworkId: string, taskId: string, now: number): void;
  deleteTask(frameworkId: string, taskId: string): void;
  /** Every task, oldest first (by createdAt). */
  loadTasks(): StoredTask[];

  putEvent(e: ClusterEvent): void;
  /** Deletes every event with index <= `index`. */
  trimEventsThrough(index: number): void;
  /** The events kept, by index. */
  loadEvents(): ClusterEvent[];

  getMeta(key: string): string | undefined;
  putMeta(key: string, value: string): void;
  /** The id of the cluster this registry belongs to (master/cluster-identity.ts). */
  clusterId(): string | undefined;
  setClusterId(id: string): void;
  /** Whether the registry holds nothing: no cluster id, agent, framework, task, release or event. */
  isEmpty(): boolean;

  putRelease(r: Release): void;
  /** Deletes a release and every agent's fetch record of it, together. */
  deleteRelease(name: string, version: string): void;
  /** Every release, by name then creation time. */
  loadReleases(): Release[];

  putFetch(f: StoredFetch): void;
  deleteFetch(release: string, agentId: string): void;
  loadFetches(): StoredFetch[];

  /** Replaces the releases `frameworkId` pins, together (an empty list drops them). */
  setPins(frameworkId: string, releases: readonly string[], pinnedAt: number): void;
  /** Every pin, by framework then release. */
  loadPins(): StoredPin[];

  /** Commits what is pending (etcd: within a short grace) and releases the backend. */
  close(): void | Promise<void>;
}
