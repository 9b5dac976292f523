// The small HTTP(S) port of an agent or a framework daemon: Prometheus /metrics and /healthz.
// The master serves its metrics on its own port (master/http-server.ts) under its ACLs; an
// agent or a framework has no policy of its own, so the choice here is the transport's:
//
// - with TLS material (the daemon runs mTLS): HTTPS, and /metrics answers only a client
//   whose certificate the cluster CA signed (any principal: Prometheus scrapes with an
//   operator certificate). Counts and latencies are not secrets, but who runs what where
//   is nobody's business outside the cluster;
// - without (--insecure): plain HTTP and no check, as for every other port of an insecure
//   cluster; the listener is off unless asked for, and the operator picks its address.
//
// /healthz answers everyone: a liveness probe carries no certificate.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import type { Registry } from "prom-client";
import { errorMessage } from "./errors.js";
import { parseListenAddress } from "./listen-address.js";
import type { Logger } from "./logger.js";
import { httpsServerOptions, type TlsMaterial } from "./tls.js";

export interface MetricsServerInit {
  /** HOST:PORT; `field` names it in errors (the flag, say). */
  listen: string;
  field?: string;
  registry: Registry;
  tls: TlsMaterial | null;
  logger: Logger;
}

export interface MetricsServer {
  /** The bound address as HOST:PORT (the port the system chose for port 0). */
  address: string;
  port: number;
  stop(): Promise<void>;
}

export async function startMetricsServer(init: MetricsServerInit): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(init.field ?? "metricsListen", init.listen);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    serve(req, res, init).catch((err) => {
      init.logger.warn("metrics request failed", { error: errorMessage(err) });
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("cannot collect metrics\n");
    });
  };
  const server: Server = init.tls
    ? (createHttpsServer(httpsServerOptions(init.tls), handler) as unknown as Server)
    : createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  // A bad client (a TLS handshake cut short) must not bring the daemon down.
  server.on("clientError", (_err, socket) => socket.destroy());
  const bound = (server.address() as AddressInfo).port;
  const address = `${host.includes(":") ? `[${host}]` : host}:${bound}`;
  init.logger.info("metrics listening", { address, scheme: init.tls ? "https" : "http" });
  return {
    address,
    port: bound,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function serve(req: IncomingMessage, res: ServerResponse, init: MetricsServerInit): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (path === "/healthz") {
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    return;
  }
  if (path !== "/metrics") {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    return;
  }
  if (init.tls && !(req.socket as TLSSocket).authorized) {
    res
      .writeHead(401, { "content-type": "text/plain" })
      .end("a client certificate signed by the cluster CA is required\n");
    return;
  }
  const body = await init.registry.metrics();
  res.writeHead(200, { "content-type": init.registry.contentType }).end(body);
}
