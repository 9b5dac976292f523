// The public API of the Yard framework SDK (`yard/framework-sdk`). Frameworks import only
// from here; everything else in the repository is internal.
export { AccessReviewer, type AccessReviewerOptions, type ReviewedCall } from "./access-review.js";
// What AccessReviewer.require rejects with; a gRPC handler maps them with their `code`.
export { PermissionDeniedError, UnauthenticatedError, UnavailableError } from "../common/errors.js";
export { type BackoffOptions, backoffDelay, RetryBackoff } from "./backoff.js";
export type { DriverEvent, DriverEventMap, DriverEventName, DriverListener } from "./driver-events.js";
export type { FrameworkEvent } from "../proto/gen/yard/v1/scheduler.js";
export {
  DriverStoppedError,
  FrameworkRemovedError,
  FrameworkSdkError,
  GrpcStatus,
  hasCode,
  NotSubscribedError,
  SchedulerCallError,
  SdkArgumentError,
  toSchedulerCallError,
} from "./errors.js";
export {
  fits,
  offerRunsExecutor,
  remaining,
  type TakeResult,
  type TaskPlacement,
  type TaskRequirement,
  TaskBuilder,
  type TaskSpec,
  takeTasks,
  taskInfo,
} from "./offer-matching.js";
export { holdsRelease, preferHolders } from "./release-locality.js";
export { PendingReasonCode, PendingTally, shortResource, type WaitingUnit } from "./pending-tally.js";
export { type FrameworkOptions, SchedulerDriver, type SchedulerDriverOptions } from "./scheduler-driver.js";
/** One master (host:port) or several ("a:7070,b:7070" or a list): the SDK follows the leader. */
export type { MasterListInput } from "../common/master-list.js";
export {
  type AgentStageProgress,
  type ReleaseFetchState,
  ReleaseStaging,
  type ReleaseStagingOptions,
  StagingFailedError,
  type StageProgress,
  type StoredReleaseInfo,
} from "./release-staging.js";
export { formatResources, parseResources } from "../common/resources.js";
export { isInfrastructureLoss, isTerminal, stateName, TaskState } from "../common/task-states.js";
export { Reason } from "../common/reasons.js";
export { createLogger, type Logger, silentLogger } from "../common/logger.js";
// Serving the framework's own gRPC API (FrameworkOptions.endpoint): the server plumbing Yard's
// daemons use, and the API of the built-in service framework (DeployService, the contract
// yardctl speaks to it).
export { bindServer, SERVER_OPTIONS } from "../common/grpc.js";
export { DEFAULT_SHUTDOWN_GRACE_MS, shutdownServer, stopStep } from "../common/shutdown.js";
export { OpenStreams, StreamWriter, type StreamWriterOptions } from "../common/stream-writer.js";
export {
  type AppStatus,
  type Deployment,
  type DeployServiceServer,
  DeployServiceService,
  type Revision,
  type WatchAppRequest,
} from "../proto/gen/yard/v1/deploy.js";
export type {
  CommandInfo,
  Filters,
  FrameworkInfo,
  HealthCheck,
  Offer,
  PendingReason,
  PendingWork,
  Range,
  Resources,
  TaskHealth,
  TaskInfo,
  TaskStatus,
} from "../proto/gen/yard/v1/common.js";
export { HealthState } from "../proto/gen/yard/v1/common.js";

/** State for frameworks: SQLite opened with WAL and user_version migrations, and a meta map. */
export { MetaTable, openDatabase as openStateDatabase, type OpenDatabaseOptions } from "../common/sqlite.js";
/**
 * The state store seam (docs/framework-guide.md): a small ordered key-value map with atomic
 * units, on SQLite (one instance) or etcd (several instances, one active, fenced writes).
 */
export { keyPart, padKey, type StateKv, StateLostError } from "./state/state-kv.js";
export { SqliteStateKv } from "./state/sqlite-state-kv.js";
export { FrameworkIdentity, type IdentityTable } from "./state/framework-identity.js";
export { EtcdStateKv, type EtcdStateKvInit } from "./state/etcd-state-kv.js";
/** Several instances of a framework on one etcd, one active (docs/framework-guide.md). */
export {
  type ActiveRun,
  type ActiveTerm,
  DEFAULT_ETCD_PREFIX,
  DEFAULT_FRAMEWORK_LEASE_TTL,
  type FrameworkEtcdOptions,
  FrameworkLeader,
  type FrameworkLeaderInit,
} from "./framework-leader.js";
export { StandbyGate, type StandbyGateInit } from "./standby-gate.js";
export {
  type FrameworkHostHandle,
  type FrameworkHostInit,
  hostFramework,
  type HostedRun,
} from "./framework-host.js";
export { LEADER_METADATA_KEY, leaderHint, notLeaderError } from "../common/leader-redirect.js";
export {
  type FrameworkApiListener,
  type FrameworkApiOptions,
  listenForFrameworkApi,
} from "./framework-api.js";
/**
 * Metrics (docs/metrics.md): the series the driver records (`driver.metrics`), and the HTTP(S)
 * port that serves a registry as Prometheus /metrics and /healthz (--metrics-listen).
 */
export { FrameworkMetrics, type OfferOutcome } from "./framework-metrics.js";
export {
  type MetricsServer,
  type MetricsServerInit,
  startMetricsServer as serveMetrics,
} from "../common/metrics-server.js";
export { Counter, Gauge, Histogram, Registry } from "prom-client";
export { LATENCY_SECONDS, PHASE_SECONDS } from "../common/metric-buckets.js";
