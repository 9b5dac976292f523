// The master's HTTP(S) port: /healthz, Prometheus /metrics and the BitTorrent tracker
// (/announce, /scrape); later the web UI.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { UnauthenticatedError } from "../common/errors.js";
import type { AccessControl } from "./auth/access.js";
import { bearerOfHeader } from "./auth/authenticate.js";
import { createServer as createHttpsServer } from "node:https";
import { httpsServerOptions, type TlsMaterial } from "../common/tls.js";
import type { Master } from "./master.js";

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
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
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
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metrics(master));
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

function metrics(master: Master): string {
  const agents = master.agentStates();
  const frameworks = master.frameworkStates();
  const lines: string[] = [];
  const gauge = (name: string, help: string, samples: [string, number][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
  };
  const counter = (name: string, help: string, v: number) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name} ${v}`);
  };
  const byStatus = new Map<string, number>();
  for (const a of agents) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
  gauge(
    "yard_agents",
    "Agents by status.",
    [...byStatus].map(([s, n]) => [`{status="${s}"}`, n]),
  );
  gauge("yard_agents_disk_pressure", "Agents reporting disk pressure (they get no offers).", [
    ["", agents.filter((a) => a.conditions?.diskPressure).length],
  ]);
  gauge("yard_frameworks", "Frameworks known to the master.", [["", frameworks.length]]);
  gauge("yard_tasks_active", "Non-terminal tasks.", [["", master.taskRecords({}).length]]);
  counter("yard_task_placements_total", "Tasks launched through Accept.", master.counters.placements);
  counter("yard_offers_sent_total", "Offers sent to frameworks.", master.counters.offersSent);
  counter("yard_status_updates_total", "Status updates received from agents.", master.counters.statusUpdates);
  counter("yard_allocation_cycles_total", "Allocation cycles run.", master.counters.cycles);
  const samples: [string, number][] = [];
  for (const kind of ["full", "immediate"] as const) {
    const cycles = master.cycleTimes(kind).sort((a, b) => a - b);
    const q = (x: number) =>
      cycles.length ? cycles[Math.min(cycles.length - 1, Math.floor(x * cycles.length))]! : 0;
    samples.push([`{kind="${kind}",quantile="0.5"}`, q(0.5)], [`{kind="${kind}",quantile="0.99"}`, q(0.99)]);
  }
  gauge(
    "yard_allocation_cycle_ms",
    "Allocation cycle duration over recent cycles: full (all agents) or immediate.",
    samples,
  );
  gauge("yard_master_rss_bytes", "Resident set size of the master process.", [
    ["", process.memoryUsage().rss],
  ]);
  return `${lines.join("\n")}\n`;
}
