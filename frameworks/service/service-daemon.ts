// The service framework as a daemon: its store, its DeployService endpoint, its scheduler.
// Built only on the framework SDK's public API, like any third-party framework.
//
// Alone (the default) it keeps its state in <data dir>/service.db. With `etcd` several
// instances run on one etcd: its state lives there, one instance is active (it runs the
// scheduler and answers the DeployService), the others answer with a redirect to it and take
// over, as the same framework, when it goes (docs/ha.md, "Frameworks that fail over").
import type { TransportChoice } from "../../common/tls.js";
import path from "node:path";
import {
  AccessReviewer,
  createLogger,
  DEFAULT_SHUTDOWN_GRACE_MS,
  type FrameworkHostHandle,
  hostFramework,
  DeployServiceService,
  type DeployServiceServer,
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
import { RolloutMetrics } from "./rollout-metrics.js";
import { createDeployService } from "./deploy-service.js";
import { KvServiceStore } from "./kv-service-store.js";
import { ServiceScheduler } from "./service-scheduler.js";
import type { ServiceStore } from "./service-store.js";
import { SqliteServiceStore } from "./sqlite-service-store.js";
import { ReleaseStager } from "./stager.js";

/** The name the service framework subscribes with; yardctl finds its endpoint by it. */
export const SERVICE_FRAMEWORK_NAME = "service";

export interface ServiceFrameworkOptions extends TransportChoice {
  /** host:port of the master, or several masters ("a:7070,b:7070" or a list): the leader is followed. */
  master: MasterListInput;
  token?: string;
  /** Where service.db lives (unused for state with `etcd`). */
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
  /** State on etcd and one active instance among several (absent: SQLite, one instance). */
  etcd?: FrameworkEtcdOptions;
  /**
   * HOST:PORT for Prometheus /metrics and /healthz: the SDK's series and the rollout's
   * (docs/metrics.md). Off by default.
   */
  metricsListen?: string;
  logger?: Logger;
}

export type ServiceFrameworkHandle = FrameworkHostHandle;

const SEVEN_DAYS = 7 * 24 * 3600;

/** One run of the scheduler over a store: the whole framework alone, or one term of a leader. */
interface ActiveService {
  impl: DeployServiceServer;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

/** One registry for the daemon's life: the driver of each term records into the same series. */
interface ServiceMetrics {
  registry: Registry;
  driver: FrameworkMetrics;
  rollout: RolloutMetrics;
}

function startActive(
  opts: ServiceFrameworkOptions,
  store: ServiceStore,
  endpoint: string,
  reviewer: AccessReviewer,
  log: Logger,
  metrics: ServiceMetrics,
): ActiveService {
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
      metrics: metrics.driver,
      rolloutMetrics: metrics.rollout,
    });
  } catch (err) {
    stager.close();
    throw err;
  }
  const running = scheduler;
  const streams = new OpenStreams();
  // Operators' calls are judged by the master's policy, and audited there.
  const impl = createDeployService(
    running.verbs,
    reviewer,
    log,
    (release) => stager.describe(release),
    streams,
  );
  running.connect();
  return {
    impl,
    frameworkId: () => running.frameworkId(),
    stop: async () => {
      streams.endAll("the service framework is shutting down");
      await running.stop();
    },
  };
}

export async function startServiceFramework(opts: ServiceFrameworkOptions): Promise<ServiceFrameworkHandle> {
  const log = opts.logger ?? createLogger("service");
  const registry = new Registry();
  const metrics: ServiceMetrics = {
    registry,
    driver: new FrameworkMetrics(registry, { processMetrics: opts.metricsListen !== undefined }),
    rollout: new RolloutMetrics(registry),
  };
  // Before anything listens: a bad address fails the start, naming the option.
  const metricsServer =
    opts.metricsListen === undefined
      ? undefined
      : await serveMetrics({
          listen: opts.metricsListen,
          field: "metricsListen",
          registry,
          tls: chooseTransport(opts, "service framework"),
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
  const handle = hostFramework<DeployServiceServer, ServiceStore>({
    server,
    endpoint,
    service: DeployServiceService,
    what: "service framework",
    name: opts.name ?? SERVICE_FRAMEWORK_NAME,
    etcd: opts.etcd,
    log,
    shutdownGraceMs: opts.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS,
    openLocalStore: () => new SqliteServiceStore(path.join(opts.dataDir, "service.db")),
    storeOnState: (state) => new KvServiceStore(state),
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
