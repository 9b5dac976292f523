// Starts a master: SQLite registry, the core, the gRPC services and the HTTP port.
import { renameSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { Server } from "@grpc/grpc-js";
import { bindServer, SERVER_OPTIONS } from "../common/grpc.js";
import { createLogger, type Logger } from "../common/logger.js";
import { AgentServiceService } from "../proto/gen/yard/v1/agent.js";
import { OperatorServiceService } from "../proto/gen/yard/v1/operator.js";
import { SchedulerServiceService } from "../proto/gen/yard/v1/scheduler.js";
import { agentService } from "./grpc/agent-service.js";
import { operatorService } from "./grpc/operator-service.js";
import { schedulerService } from "./grpc/scheduler-service.js";
import { createHttpServer } from "./http-server.js";
import { DEFAULT_MASTER_CONFIG, Master, type MasterConfig } from "./master.js";
import { MasterStore } from "./master-store.js";

export interface MasterOptions extends Partial<MasterConfig> {
  dataDir: string;
  /** Address to listen on; 127.0.0.1 by default. */
  host?: string;
  /** gRPC port, 7070 by default; 0 picks a free one. */
  port?: number;
  /** HTTP port (metrics, health), 7071 by default; 0 picks a free one. */
  httpPort?: number;
  token?: string;
  logger?: Logger;
}

export interface MasterHandle {
  grpcPort: number;
  httpPort: number;
  address: string;
  master: Master;
  stop(): Promise<void>;
}

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const log = opts.logger ?? createLogger("master");
  const host = opts.host ?? "127.0.0.1";
  const config: MasterConfig = { ...DEFAULT_MASTER_CONFIG };
  for (const key of Object.keys(DEFAULT_MASTER_CONFIG) as (keyof MasterConfig)[]) {
    if (opts[key] !== undefined) (config as any)[key] = opts[key];
  }
  const store = new MasterStore(opts.dataDir);
  const master = new Master(store, config, log);
  const server = new Server(SERVER_OPTIONS);
  server.addService(AgentServiceService, agentService(master, opts.token));
  server.addService(SchedulerServiceService, schedulerService(master, opts.token));
  server.addService(OperatorServiceService, operatorService(master, opts.token));
  const http = createHttpServer(master);
  let grpcPort: number;
  try {
    grpcPort = await bindServer(server, host, opts.port ?? 7070);
  } catch (err) {
    store.close();
    throw new Error(`cannot listen for gRPC on ${host}:${opts.port ?? 7070}: ${(err as Error).message}`);
  }
  try {
    http.listen(opts.httpPort ?? 7071, host);
    await once(http, "listening");
  } catch (err) {
    server.forceShutdown();
    store.close();
    throw new Error(`cannot listen for HTTP on ${host}:${opts.httpPort ?? 7071}: ${(err as Error).message}`);
  }
  const httpPort = (http.address() as { port: number }).port;
  master.start();
  const discovery = join(opts.dataDir, "master.json");
  writeFileSync(`${discovery}.tmp`, JSON.stringify({ grpcPort, httpPort, pid: process.pid }));
  renameSync(`${discovery}.tmp`, discovery);
  log.info(`master listening grpc=${host}:${grpcPort} http=${host}:${httpPort}`);
  let stopped = false;
  return {
    grpcPort,
    httpPort,
    address: `${host}:${grpcPort}`,
    master,
    async stop() {
      if (stopped) return;
      stopped = true;
      master.stop();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      server.forceShutdown();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      store.close();
    },
  };
}
