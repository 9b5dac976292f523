// The HTTP port of a master in HA mode. The leader serves it as a single master does. A
// standby answers /healthz itself ("ok standby": the process is sound) and redirects every
// other request to the same path on the leader's HTTP port with 307 Temporary Redirect, so
// that Prometheus and BitTorrent clients (which follow redirects) reach the leader's metrics
// and tracker; with no leader elected it answers 503 with Retry-After.
import type { IncomingMessage, ServerResponse } from "node:http";
import { LEADER_METADATA_KEY } from "../../common/leader-redirect.js";

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface HttpGateInit {
  /** The leading instance's handler, or undefined on a standby. */
  route: () => Handler | undefined;
  /** The leader's HTTP host:port, when one is elected. */
  leaderHttp: () => string | undefined;
  scheme: "http" | "https";
}

export function standbyHttp(init: HttpGateInit): Handler {
  return (req, res) => {
    const handler = init.route();
    if (handler) {
      handler(req, res);
      return;
    }
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok standby\n");
      return;
    }
    const leader = init.leaderHttp();
    if (!leader) {
      res
        .writeHead(503, { "content-type": "text/plain", "retry-after": "1" })
        .end("this master is a standby and no leader is elected yet; retry\n");
      return;
    }
    const location = `${init.scheme}://${leader}${req.url ?? "/"}`;
    res
      .writeHead(307, { location, [LEADER_METADATA_KEY]: leader, "content-type": "text/plain" })
      .end(`this master is a standby; the leader is at ${location}\n`);
  };
}
