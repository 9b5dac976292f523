// The service framework as a daemon: its store, its DeployService endpoint, its scheduler.
// Built only on the framework SDK's public API, like any third-party framework.
import fs from "node:fs";
import path from "node:path";
import { Server } from "@grpc/grpc-js";
import {
  bindServer,
  createLogger,
  DeployServiceService,
  type Logger,
  SERVER_OPTIONS,
} from "../../framework-sdk/index.js";
import { createDeployService } from "./deploy-service.js";
import { ServiceScheduler } from "./service-scheduler.js";
import { ServiceStore } from "./service-store.js";
import { ReleaseStager } from "./stager.js";

/** The name the service framework subscribes with; yardctl finds its endpoint by it. */
export const SERVICE_FRAMEWORK_NAME = "service";

export interface ServiceFrameworkOptions {
  /** host:port of the master. */
  master: string;
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
  /** The address health checks dial (default: each agent's `address` attribute, else its hostname). */
  checkHost?: string;
  /** Crash-loop restart backoff, default 1 s doubling to 60 s. */
  restartBackoff?: { initialMs: number; maxMs: number };
  logger?: Logger;
}

export interface ServiceFrameworkHandle {
  endpoint: string;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

const SEVEN_DAYS = 7 * 24 * 3600;

export async function startServiceFramework(opts: ServiceFrameworkOptions): Promise<ServiceFrameworkHandle> {
  if (!opts.master) throw new Error("master: is empty (give host:port of the master)");
  if (!opts.dataDir) throw new Error("dataDir: is empty");
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(`port: ${port} is not a port number`);
  const log = opts.logger ?? createLogger("service");
  const host = opts.host ?? "127.0.0.1";
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const store = new ServiceStore(path.join(opts.dataDir, "service.db"));
  const server = new Server(SERVER_OPTIONS);
  let bound: number;
  try {
    bound = await bindServer(server, host, port);
  } catch (err) {
    store.close();
    throw err;
  }
  const endpoint = `${host}:${bound}`;
  let scheduler: ServiceScheduler | undefined;
  const stager = new ReleaseStager(opts.master, opts.token, log, {
    get frameworkId() {
      return scheduler?.frameworkId();
    },
    get session() {
      return scheduler?.session();
    },
  });
  try {
    scheduler = new ServiceScheduler(store, stager, log, {
      master: opts.master,
      token: opts.token,
      name: opts.name ?? SERVICE_FRAMEWORK_NAME,
      role: opts.role ?? "*",
      failoverTimeoutSeconds: opts.failoverTimeoutSeconds ?? SEVEN_DAYS,
      endpoint,
      checkHost: opts.checkHost,
      restartBackoff: opts.restartBackoff,
    });
  } catch (err) {
    server.forceShutdown();
    stager.close();
    store.close();
    throw err;
  }
  const running = scheduler;
  server.addService(DeployServiceService, createDeployService(running, opts.token, log));
  running.connect();
  log.info("service framework listening", { endpoint });
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    frameworkId: () => running.frameworkId(),
    stop: () => {
      stopping ??= (async () => {
        await running.stop();
        server.forceShutdown();
        store.close();
      })();
      return stopping;
    },
  };
}
