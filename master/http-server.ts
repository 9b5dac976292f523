// The master's HTTP(S) port: /healthz, Prometheus /metrics (the master's own registry,
// master/metrics/), the BitTorrent tracker (/announce, /scrape) and the web UI (/ui, master/ui/).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { UnauthenticatedError } from "../common/errors.js";
import type { AccessControl } from "./auth/access.js";
import { bearerOfHeader } from "./auth/authenticate.js";
import { createServer as createHttpsServer } from "node:https";
import { httpsServerOptions, type TlsMaterial } from "../common/tls.js";
import type { Master } from "./master.js";
import { isUiPath } from "./ui/ui-routes.js";

/** The tracker's side of the HTTP port (master/releases/release-tracker.ts). */
export interface TrackerRoute {
  handles(path: string): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
}

/**
 * HTTPS with `tls` (a client certificate is requested, not required: outside BitTorrent
 * clients and Prometheus have none, so each endpoint decides whom it serves), else HTTP.
 */
export function createHttpServer(
  master: Master,
  access: AccessControl,
  tracker?: TrackerRoute,
  tls?: TlsMaterial | null,
): Server {
  return httpServerOf(httpHandler(master, access, tracker), tls);
}

/** The HTTP(S) server around `handler`: HTTPS with `tls`, else HTTP (see createHttpServer). */
export function httpServerOf(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  tls?: TlsMaterial | null,
): Server {
  // An https.Server is a tls.Server, not an http.Server, but offers the same listen/close API.
  return tls
    ? (createHttpsServer(httpsServerOptions(tls), handler) as unknown as Server)
    : createServer(handler);
}

/** The requests of the master's HTTP port, without a server (a master in HA mode gates them). */
export function httpHandler(
  master: Master,
  access: AccessControl,
  tracker?: TrackerRoute,
  ui?: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (ui && isUiPath(path)) {
      ui(req, res);
      return;
    }
    if (tracker?.handles(path)) {
      tracker.handle(req, res);
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (path === "/metrics") {
      if (!mayViewMetrics(req, res, access)) return;
      const registry = master.metricsRegistry;
      registry
        .metrics()
        .then((body) => res.writeHead(200, { "content-type": registry.contentType }).end(body))
        .catch((err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" }).end("cannot collect metrics\n");
          master.core.log.warn("collecting metrics failed", { error: String(err) });
        });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
  };
}

/**
 * /metrics tells how big the cluster is and how busy: it needs a principal allowed
 * view_metrics, by bearer token (Prometheus's `authorization: credentials_file`) or by client
 * certificate when the port serves HTTPS. Answers 401 or 403 itself when not.
 */
function mayViewMetrics(req: IncomingMessage, res: ServerResponse, access: AccessControl): boolean {
  const socket = req.socket as Partial<TLSSocket>;
  const cert = typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : undefined;
  try {
    const principal = access.authenticator().authenticate({
      bearer: bearerOfHeader(req.headers.authorization),
      certificate: cert?.raw && socket.authorized ? cert.raw : undefined,
      certificateVerified: true,
    });
    const d = access.decide(principal, "view_metrics");
    if (d.allowed) return true;
    access.record({ principal, action: "view_metrics", object: "", result: `denied: ${d.reason}` });
    res.writeHead(403, { "content-type": "text/plain" }).end(`${d.reason}\n`);
  } catch (err) {
    const message = err instanceof UnauthenticatedError ? err.message : "cannot authenticate";
    res
      .writeHead(401, { "content-type": "text/plain", "www-authenticate": 'Bearer realm="yard"' })
      .end(`${message}\n`);
  }
  return false;
}
