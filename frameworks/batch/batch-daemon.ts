// The batch framework as a daemon: its store, its BatchService endpoint, its scheduler.
// Built only on the framework SDK's public API (plus the shared proto and logging helpers),
// like any third-party framework.
//
// Alone (the default) it keeps its jobs in <data dir>/batch.db. With `etcd` several instances
// run on one etcd: the jobs live there, one instance is active (it runs the scheduler and
// answers the BatchService), the others answer with a redirect to it and take over, as the
// same framework, when it goes (docs/ha.md, "Frameworks that fail over").
import type { TransportChoice } from "../../common/tls.js";
import path from "node:path";
import {
  AccessReviewer,
  createLogger,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type FrameworkHostHandle,
  hostFramework,
  type FrameworkEtcdOptions,
  type Logger,
  listenForFrameworkApi,
  type MasterListInput,
  OpenStreams,
  FrameworkMetrics,
  Registry,
  serveMetrics,
} from "../../framework-sdk/index.js";
import { chooseTransport } from "../../common/tls.js";
import { type BatchServiceServer, BatchServiceService } from "../../proto/gen/yard/v1/batch.js";
import { BatchScheduler } from "./batch-scheduler.js";
import { createBatchService } from "./batch-service.js";
import { DEFAULT_JOB_RETENTION, type JobRetention } from "./job-retention.js";
import type { JobStore } from "./job-store.js";
import { KvJobStore } from "./kv-job-store.js";
import { SqliteJobStore } from "./sqlite-job-store.js";

export interface BatchFrameworkOptions extends TransportChoice {
  /** host:port of the master, or several masters ("a:7070,b:7070" or a list): the leader is followed. */
  master: MasterListInput;
  token?: string;
  /** Where batch.db lives (unused for state with `etcd`). */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default "batch". */
  name?: string;
  /** Default "*". */
  role?: string;
  /** Default 7 days: jobs outlive a framework restart by a wide margin. */
  failoverTimeoutSeconds?: number;
  /** How long ended jobs are remembered (default: 1,000 jobs, 7 days; job-retention.ts). */
  retention?: Partial<JobRetention>;
  /** How long stop() waits for open calls before it cuts them (default 10 s). */
  shutdownGraceMs?: number;
  /** State on etcd and one active instance among several (absent: SQLite, one instance). */
  etcd?: FrameworkEtcdOptions;
  /** Serve the SDK's metrics (docs/metrics.md) on this HOST:PORT; off when absent. */
  metricsListen?: string;
  logger?: Logger;
}

export type BatchFrameworkHandle = FrameworkHostHandle;

const SEVEN_DAYS = 7 * 24 * 3600;

/** One run of the scheduler over a store: the whole framework alone, or one term of a leader. */
interface ActiveBatch {
  impl: BatchServiceServer;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

function startActive(
  opts: BatchFrameworkOptions,
  store: JobStore,
  endpoint: string,
  reviewer: AccessReviewer,
  log: Logger,
  metrics: FrameworkMetrics,
): ActiveBatch {
  const scheduler = new BatchScheduler(store, log, {
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
    name: opts.name ?? "batch",
    role: opts.role ?? "*",
    failoverTimeoutSeconds: opts.failoverTimeoutSeconds ?? SEVEN_DAYS,
    endpoint,
    retention: { ...DEFAULT_JOB_RETENTION, ...opts.retention },
    metrics,
  });
  const streams = new OpenStreams();
  // Operators' calls are judged by the master's policy, and audited there.
  const impl = createBatchService(scheduler, reviewer, log, streams);
  scheduler.connect();
  return {
    impl,
    frameworkId: () => scheduler.frameworkId(),
    stop: async () => {
      streams.endAll("the batch framework is shutting down");
      await scheduler.stop();
    },
  };
}

export async function startBatchFramework(opts: BatchFrameworkOptions): Promise<BatchFrameworkHandle> {
  const log = opts.logger ?? createLogger("batch");
  const registry = new Registry();
  const metrics = new FrameworkMetrics(registry, { processMetrics: opts.metricsListen !== undefined });
  // Before anything listens: a bad address fails the start, naming the option.
  const metricsServer =
    opts.metricsListen === undefined
      ? undefined
      : await serveMetrics({
          listen: opts.metricsListen,
          field: "metricsListen",
          registry,
          tls: chooseTransport(opts, "batch framework"),
          logger: log,
        });
  let listener: Awaited<ReturnType<typeof listenForFrameworkApi>>;
  try {
    listener = await listenForFrameworkApi(opts);
  } catch (err) {
    await metricsServer?.stop();
    throw err;
  }
  const { server, endpoint } = listener;
  const reviewer = new AccessReviewer({
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
  });
  const handle = hostFramework<BatchServiceServer, JobStore>({
    server,
    endpoint,
    service: BatchServiceService,
    what: "batch framework",
    name: opts.name ?? "batch",
    etcd: opts.etcd,
    log,
    shutdownGraceMs: opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
    openLocalStore: () => new SqliteJobStore(path.join(opts.dataDir, "batch.db")),
    storeOnState: (state) => new KvJobStore(state),
    start: (store) => startActive(opts, store, endpoint, reviewer, log, metrics),
    close: () => reviewer.close(),
  });
  return {
    ...handle,
    stop: async () => {
      await handle.stop();
      await metricsServer?.stop();
    },
  };
}
