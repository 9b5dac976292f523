// The batch framework as a daemon: its store, its BatchService endpoint, its scheduler.
// Built only on the framework SDK's public API (plus the shared proto and logging helpers),
// like any third-party framework.
import type { TransportChoice } from "../../common/tls.js";
import path from "node:path";
import {
  createLogger,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type Logger,
  listenForFrameworkApi,
  OpenStreams,
  shutdownServer,
  stopStep,
  AccessReviewer,
  type MasterListInput,
} from "../../framework-sdk/index.js";
import { BatchServiceService } from "../../proto/gen/yard/v1/batch.js";
import { BatchScheduler } from "./batch-scheduler.js";
import { createBatchService } from "./batch-service.js";
import { DEFAULT_JOB_RETENTION, type JobRetention } from "./job-retention.js";
import { JobStore } from "./job-store.js";

export interface BatchFrameworkOptions extends TransportChoice {
  /** host:port of the master, or several masters ("a:7070,b:7070" or a list): the leader is followed. */
  master: MasterListInput;
  token?: string;
  /** Where batch.db lives. */
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
  logger?: Logger;
}

export interface BatchFrameworkHandle {
  /** host:port of the BatchService, as advertised in FrameworkInfo.endpoint. */
  endpoint: string;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

const SEVEN_DAYS = 7 * 24 * 3600;

export async function startBatchFramework(opts: BatchFrameworkOptions): Promise<BatchFrameworkHandle> {
  const log = opts.logger ?? createLogger("batch");
  const { server, endpoint } = await listenForFrameworkApi(opts);
  let store: JobStore;
  let scheduler: BatchScheduler;
  try {
    store = new JobStore(path.join(opts.dataDir, "batch.db"));
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  try {
    scheduler = new BatchScheduler(store, log, {
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
  } catch (err) {
    server.forceShutdown();
    store.close();
    throw err;
  }
  const streams = new OpenStreams();
  // Operators' calls are judged by the master's policy, and audited there.
  const reviewer = new AccessReviewer({
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
  });
  server.addService(BatchServiceService, createBatchService(scheduler, reviewer, log, streams));
  scheduler.connect();
  log.info("batch framework listening", { endpoint });

  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    frameworkId: () => scheduler.frameworkId(),
    stop: () => {
      // Ends within the grace period whatever the master or the watchers do.
      stopping ??= (async () => {
        const deadline = Date.now() + (opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
        const left = () => Math.max(0, deadline - Date.now());
        streams.endAll("the batch framework is shutting down");
        await stopStep(log, "stopping the scheduler", () => scheduler.stop(), left());
        await shutdownServer(server, left());
        reviewer.close();
        store.close();
      })();
      return stopping;
    },
  };
}
