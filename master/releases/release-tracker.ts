// The master's BitTorrent tracker: bittorrent-tracker's Server without listeners of its own,
// fed the /announce and /scrape requests of the master's HTTP port. Only torrents of known
// releases are tracked: an announce for any other info hash gets a "failure reason", so the
// master never serves as an open tracker for other people's swarms.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../../common/logger.js";
import { loadTrackerServer, type TrackerServer } from "./bittorrent-modules.js";

export const TRACKER_PATHS = ["/announce", "/scrape"] as const;

export interface ReleaseTrackerComponents {
  /** Whether `infoHash` (hex) belongs to a stored release. */
  isKnown: (infoHash: string) => boolean;
  logger: Logger;
}

export interface ReleaseTrackerInit {
  /** How often clients re-announce; short, since swarms here are small and short-lived. */
  announceIntervalMs?: number;
}

export class ReleaseTracker {
  private constructor(
    private readonly server: TrackerServer,
    private readonly log: Logger,
  ) {}

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
      filter: (infoHash, _params, cb) => {
        if (components.isKnown(infoHash)) cb(null);
        else cb(new Error(`info hash ${infoHash} is not a release of this Yard master`));
      },
    });
    // A peer's bad request is a warning for the tracker, never a reason to stop.
    server.on("warning", (err) =>
      components.logger.debug("tracker refused a request", { error: err.message }),
    );
    server.on("error", (err) => components.logger.warn("tracker error", { error: err.message }));
    return new ReleaseTracker(server, components.logger);
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
    try {
      this.server.onHttpRequest(req, res);
    } catch (err) {
      this.log.warn("tracker request failed", { error: String(err) });
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
