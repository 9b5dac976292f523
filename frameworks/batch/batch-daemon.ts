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
import { Etcd3 } from "etcd3";
import {
  AccessReviewer,
  createLogger,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type FrameworkEtcdOptions,
  FrameworkLeader,
  type Logger,
  listenForFrameworkApi,
  type MasterListInput,
  OpenStreams,
  StandbyGate,
  shutdownServer,
  stopStep,
} from "../../framework-sdk/index.js";
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
  logger?: Logger;
}

export interface BatchFrameworkHandle {
  /** host:port of the BatchService, as advertised in FrameworkInfo.endpoint. */
  endpoint: string;
  frameworkId(): string | undefined;
  /** This instance runs the scheduler (always true without etcd). */
  isActive(): boolean;
  stop(): Promise<void>;
}

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
  const { server, endpoint } = await listenForFrameworkApi(opts);
  const reviewer = new AccessReviewer({
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
  });
  const grace = () => {
    const deadline = Date.now() + (opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
    return () => Math.max(0, deadline - Date.now());
  };

  if (opts.etcd) {
    const client = new Etcd3({ hosts: opts.etcd.endpoints });
    const leader = new FrameworkLeader({
      client,
      prefix: opts.etcd.prefix,
      name: opts.name ?? "batch",
      address: endpoint,
      ttlSeconds: opts.etcd.leaseTtlSeconds,
      logger: log,
    });
    let current: ActiveBatch | undefined;
    const gate = new StandbyGate({ leader: () => leader.leaderAddress(), what: "batch framework instance" });
    server.addService(
      BatchServiceService,
      gate.wrap<BatchServiceServer>(BatchServiceService, () => (leader.isActive ? current?.impl : undefined)),
    );
    leader.start(async ({ state }) => {
      const active = startActive(opts, new KvJobStore(state), endpoint, reviewer, log);
      current = active;
      return {
        stop: async () => {
          current = undefined;
          await stopStep(
            log,
            "stopping the scheduler",
            () => active.stop(),
            opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
          );
        },
      };
    });
    log.info("batch framework listening (one instance of several on etcd)", { endpoint });
    let stopping: Promise<void> | undefined;
    return {
      endpoint,
      frameworkId: () => current?.frameworkId(),
      isActive: () => leader.isActive,
      stop: () => {
        stopping ??= (async () => {
          const left = grace();
          await stopStep(log, "leaving the election", () => leader.stop(), left());
          await shutdownServer(server, left());
          reviewer.close();
          client.close();
        })();
        return stopping;
      },
    };
  }

  let store: JobStore;
  let active: ActiveBatch;
  try {
    store = new SqliteJobStore(path.join(opts.dataDir, "batch.db"));
  } catch (err) {
    server.forceShutdown();
    reviewer.close();
    throw err;
  }
  try {
    active = startActive(opts, store, endpoint, reviewer, log);
  } catch (err) {
    server.forceShutdown();
    reviewer.close();
    store.close();
    throw err;
  }
  server.addService(BatchServiceService, active.impl);
  log.info("batch framework listening", { endpoint });
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    frameworkId: () => active.frameworkId(),
    isActive: () => true,
    stop: () => {
      // Ends within the grace period whatever the master or the watchers do.
      stopping ??= (async () => {
        const left = grace();
        await stopStep(log, "stopping the scheduler", () => active.stop(), left());
        await shutdownServer(server, left());
        reviewer.close();
        store.close();
      })();
      return stopping;
    },
  };
}
