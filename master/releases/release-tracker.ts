// The master's BitTorrent tracker: bittorrent-tracker's Server without listeners of its own,
// fed the /announce and /scrape requests of the master's HTTP port. Only torrents of known
// releases are tracked: an announce for any other info hash gets a "failure reason", so the
// master never serves as an open tracker for other people's swarms.
//
// The swarm is private (docs/security.md): an announce is answered only with the passkey of
// a member (an agent, the master's seed) or with a grant for that release from the granted
// host; a scrape only for a member. A scrape without credentials answers an empty list, so
// that it reveals no info hash. Over HTTPS, a client certificate of an agent or a master
// counts as membership too.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "../../common/logger.js";
import { principalFromTlsSocket } from "../../common/principal.js";
import { loadTrackerServer, type TrackerServer } from "./bittorrent-modules.js";
import type { SwarmCaller } from "./swarm-access.js";

export const TRACKER_PATHS = ["/announce", "/scrape"] as const;

export interface ReleaseTrackerComponents {
  /** Whether `infoHash` (hex) belongs to a stored release. */
  isKnown: (infoHash: string) => boolean;
  /** Who the credentials of a request speak for (swarm-access.ts); undefined = nobody. */
  caller: (
    params: { passkey?: unknown; grant?: unknown },
    address: string,
    infoHash?: string,
  ) => SwarmCaller | undefined;
  logger: Logger;
}

export interface ReleaseTrackerInit {
  /** How often clients re-announce; short, since swarms here are small and short-lived. */
  announceIntervalMs?: number;
}

export class ReleaseTracker {
  private readonly log: Logger;

  private constructor(
    private readonly server: TrackerServer,
    private readonly components: ReleaseTrackerComponents,
  ) {
    this.log = components.logger;
  }

  static async create(
    components: ReleaseTrackerComponents,
    init: ReleaseTrackerInit = {},
  ): Promise<ReleaseTracker> {
    const Server = await loadTrackerServer();
    const server = new Server({
      http: false,
      udp: false,
      ws: false,
      stats: false,
      interval: init.announceIntervalMs ?? 30_000,
      trustProxy: false,
      filter: (infoHash, params, cb) => {
        const p = params as { passkey?: unknown; grant?: unknown; ip?: string; httpReq?: IncomingMessage };
        if (!components.isKnown(infoHash))
          cb(new Error(`info hash ${infoHash} is not a release of this Yard master`));
        else if ((p.httpReq && certifiedMember(p.httpReq)) || components.caller(p, p.ip ?? "", infoHash))
          cb(null);
        else cb(new Error("not a member of this swarm: a passkey or a grant for this release is required"));
      },
    });
    // A peer's bad request is a warning for the tracker, never a reason to stop.
    server.on("warning", (err) => components.logger.debug("tracker refused a request", { err }));
    server.on("error", (err) => components.logger.warn("tracker error", { err }));
    return new ReleaseTracker(server, components);
  }

  /** Whether the HTTP server should hand this path to the tracker. */
  handles(path: string): boolean {
    return (TRACKER_PATHS as readonly string[]).includes(path);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.method !== "GET") {
      res.writeHead(405, { "content-type": "text/plain", allow: "GET" }).end("tracker requests are GETs\n");
      return;
    }
    res.setHeader("content-type", "text/plain");
    const path = (req.url ?? "/").split("?")[0];
    const member = certifiedMember(req);
    if (path === "/scrape" && !member) {
      const params = new URL(req.url ?? "/", "http://tracker").searchParams;
      const caller = this.components.caller(
        { passkey: params.get("passkey") ?? undefined, grant: params.get("grant") ?? undefined },
        req.socket.remoteAddress ?? "",
      );
      if (caller?.kind !== "member") {
        res.end("d5:filesdee");
        return;
      }
    }
    try {
      this.server.onHttpRequest(req, res);
    } catch (err) {
      this.log.warn("tracker request failed", { err });
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    }
  }

  /** Peers the tracker knows in the swarm of `infoHash`. */
  peerCount(infoHash: string): number {
    return this.server.torrents[infoHash]?.peers.keys.length ?? 0;
  }

  /** Forgets the swarm of a removed release. */
  forget(infoHash: string): void {
    delete this.server.torrents[infoHash];
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Whether the request came over TLS with a verified certificate of an agent or a master. */
function certifiedMember(req: IncomingMessage): boolean {
  const socket = req.socket as Partial<TLSSocket>;
  if (typeof socket.getPeerCertificate !== "function") return false;
  const kind = principalFromTlsSocket(socket as TLSSocket)?.kind;
  return kind === "agent" || kind === "master";
}
