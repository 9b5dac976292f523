// A client that speaks Yard's swarm handshake with a key of its own (not the cluster's): Yard's
// engine given a wrong swarm key. It dials the given peers directly (no tracker) and reports
// how many connections went through the BitTorrent handshake and how many piece bytes came.
import { randomBytes } from "node:crypto";
import { silentLogger } from "../common/logger.js";
import { SwarmEngine } from "../common/swarm/swarm-engine.js";
import type { PeerWire } from "../common/swarm/peer-wire.js";
import { waitFor } from "./cluster/harness.js";

export async function forgedFetch(
  torrent: Uint8Array,
  dir: string,
  peers: string[],
): Promise<{ connections: number; received: number }> {
  const wrongKey = randomBytes(32);
  const engine = await SwarmEngine.create({
    listenHost: "127.0.0.1",
    swarmKey: () => wrongKey,
    log: silentLogger,
  });
  try {
    const t = await engine.add(torrent, { path: dir });
    const wires: PeerWire[] = [];
    t.on("connection", (w: PeerWire) => wires.push(w));
    t.addPeers(
      peers.map((p) => {
        const at = p.lastIndexOf(":");
        return { host: p.slice(0, at), port: Number(p.slice(at + 1)) };
      }),
    );
    // The answer is known when every connection was made and closed again (or as soon as a
    // piece arrived: that is the failure).
    await waitFor(
      `connections to ${peers.join(", ")} to be made and closed`,
      () => t.downloaded > 0 || (wires.length >= peers.length && wires.every((w) => w.closed)),
      20_000,
    );
    return { connections: wires.length, received: t.downloaded };
  } finally {
    await engine.destroy();
  }
}
