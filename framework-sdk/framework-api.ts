// What every framework daemon that serves its own API (batch's BatchService, service's
// DeployService) does first: check its common options, make its data dir, and bind a gRPC
// server whose address it then advertises in FrameworkInfo.endpoint.
import fs from "node:fs";
import { Server } from "@grpc/grpc-js";
import { bindServer, serverOptions } from "../common/grpc.js";
import { LIMITS } from "../common/limits.js";
import { createLogger } from "../common/logger.js";
import { chooseTransport, INSECURE_WARNING, serverCredentials, type TransportChoice } from "../common/tls.js";
import type { MasterListInput } from "../common/master-list.js";
import { SdkArgumentError } from "./errors.js";
import { masterList } from "./scheduler-driver.js";

/** `tls` (clients must present a certificate of the cluster CA) or an explicit `insecure: true`. */
export interface FrameworkApiOptions extends TransportChoice {
  /** host:port of the master, or several masters ("a:7070,b:7070" or a list). */
  master: MasterListInput;
  /** The framework's own state lives here. */
  dataDir: string;
  /** Address the API listens on; 127.0.0.1 by default. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Largest request the API takes, default 1 MiB; larger ones fail with RESOURCE_EXHAUSTED. */
  maxReceiveBytes?: number;
}

export interface FrameworkApiListener {
  /** Add the framework's services to it; it is already bound. */
  server: Server;
  /** host:port, for FrameworkInfo.endpoint. */
  endpoint: string;
}

export async function listenForFrameworkApi(opts: FrameworkApiOptions): Promise<FrameworkApiListener> {
  masterList(opts.master);
  if (!opts.dataDir) throw new SdkArgumentError("dataDir", "is empty");
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new SdkArgumentError("port", `${port} is not a port number`);
  }
  let tls: ReturnType<typeof chooseTransport>;
  try {
    tls = chooseTransport(opts, "framework API");
  } catch (err) {
    throw new SdkArgumentError("tls", (err as Error).message);
  }
  if (!tls) createLogger("framework-api").warn(INSECURE_WARNING);
  const host = opts.host ?? "127.0.0.1";
  fs.mkdirSync(opts.dataDir, { recursive: true });
  const server = new Server(serverOptions(opts.maxReceiveBytes ?? LIMITS.frameworkApiReceiveBytes));
  const bound = await bindServer(server, host, port, serverCredentials(tls));
  return { server, endpoint: `${host}:${bound}` };
}
