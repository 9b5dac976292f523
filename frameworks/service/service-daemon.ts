// The service framework as a daemon: its store, its DeployService endpoint, its scheduler.
// Built only on the framework SDK's public API, like any third-party framework.
import type { TransportChoice } from "../../common/tls.js";
import path from "node:path";
import {
  createLogger,
  DEFAULT_SHUTDOWN_GRACE_MS,
  DeployServiceService,
  type Logger,
  listenForFrameworkApi,
  OpenStreams,
  shutdownServer,
  stopStep,
  AccessReviewer,
  type MasterListInput,
} from "../../framework-sdk/index.js";
import { createDeployService } from "./deploy-service.js";
import { ServiceScheduler } from "./service-scheduler.js";
import { ServiceStore } from "./service-store.js";
import { ReleaseStager } from "./stager.js";

/** The name the service framework subscribes with; yardctl finds its endpoint by it. */
export const SERVICE_FRAMEWORK_NAME = "service";

export interface ServiceFrameworkOptions extends TransportChoice {
  /** host:port of the master, or several masters ("a:7070,b:7070" or a list): the leader is followed. */
  master: MasterListInput;
  token?: string;
  /** Where service.db lives. */
  dataDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** Default "service". */
  name?: string;
  role?: string;
  /** Default 7 days: services outlive a framework restart by a wide margin. */
  failoverTimeoutSeconds?: number;
  /** Crash-loop restart backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  /** How long stop() waits for open calls before it cuts them (default 10 s). */
  shutdownGraceMs?: number;
  logger?: Logger;
}

export interface ServiceFrameworkHandle {
  endpoint: string;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

const SEVEN_DAYS = 7 * 24 * 3600;

export async function startServiceFramework(opts: ServiceFrameworkOptions): Promise<ServiceFrameworkHandle> {
  const log = opts.logger ?? createLogger("service");
  const { server, endpoint } = await listenForFrameworkApi(opts);
  let store: ServiceStore;
  try {
    store = new ServiceStore(path.join(opts.dataDir, "service.db"));
  } catch (err) {
    server.forceShutdown();
    throw err;
  }
  let scheduler: ServiceScheduler | undefined;
  const stager = new ReleaseStager(
    opts.master,
    opts.token,
    log,
    {
      get frameworkId() {
        return scheduler?.frameworkId();
      },
      get session() {
        return scheduler?.session();
      },
    },
    { tls: opts.tls, insecure: opts.insecure },
  );
  try {
    scheduler = new ServiceScheduler(store, stager, log, {
      master: opts.master,
      token: opts.token,
      tls: opts.tls,
      insecure: opts.insecure,
      name: opts.name ?? SERVICE_FRAMEWORK_NAME,
      role: opts.role ?? "*",
      failoverTimeoutSeconds: opts.failoverTimeoutSeconds ?? SEVEN_DAYS,
      endpoint,
      restartBackoff: opts.restartBackoff,
    });
  } catch (err) {
    server.forceShutdown();
    stager.close();
    store.close();
    throw err;
  }
  const running = scheduler;
  const streams = new OpenStreams();
  // Operators' calls are judged by the master's policy, and audited there.
  const reviewer = new AccessReviewer({
    master: opts.master,
    token: opts.token,
    tls: opts.tls,
    insecure: opts.insecure,
  });
  server.addService(
    DeployServiceService,
    createDeployService(running.verbs, reviewer, log, (release) => stager.describe(release), streams),
  );
  running.connect();
  log.info("service framework listening", { endpoint });
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    frameworkId: () => running.frameworkId(),
    stop: () => {
      // Ends within the grace period whatever the master or the watchers do.
      stopping ??= (async () => {
        const deadline = Date.now() + (opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS);
        const left = () => Math.max(0, deadline - Date.now());
        streams.endAll("the service framework is shutting down");
        await stopStep(log, "stopping the scheduler", () => running.stop(), left());
        await shutdownServer(server, left());
        reviewer.close();
        store.close();
      })();
      return stopping;
    },
  };
}
