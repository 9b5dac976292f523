// Defence against peers that send wrong data. webtorrent checks every piece against the
// torrent's SHA-1 piece hashes and drops a piece that fails, but then asks again, possibly
// the same peer, forever. The guard remembers which peers sent blocks of each piece not yet
// verified; when a piece fails, each of them gets a strike, and a peer that was the only
// source of a bad piece, or that reaches `maxStrikes`, is disconnected and banned for the
// life of the torrent (by peer id, so a reconnect from another port is refused too).
// A disconnected peer stays among a piece's sources: its blocks stay in the piece too.
import type { Logger } from "../../common/logger.js";
import type { Torrent, Wire } from "../../common/swarm-client.js";

interface PieceWire extends Wire {
  on(event: "close", cb: () => void): void;
  on(event: "piece", cb: (index: number, offset: number, buf: Uint8Array) => void): void;
}

export class PeerGuard {
  private readonly sources = new Map<number, Set<PieceWire>>();
  private readonly strikes = new Map<string, number>();
  readonly banned = new Set<string>();
  /** Pieces that failed their hash check, for progress reports and tests. */
  failedPieces = 0;

  constructor(
    private readonly torrent: Torrent,
    private readonly log: Logger,
    private readonly maxStrikes = 2,
  ) {
    torrent.on("wire", (w) => this.onWire(w as PieceWire));
    (torrent as unknown as { on(e: "verified", cb: (i: number) => void): void }).on("verified", (i) =>
      this.sources.delete(i),
    );
    torrent.on("warning", (err) => this.onWarning(err));
  }

  private onWire(wire: PieceWire): void {
    if (this.banned.has(wire.peerId)) {
      wire.destroy();
      return;
    }
    wire.on("piece", (index) => {
      let set = this.sources.get(index);
      if (!set) {
        set = new Set();
        this.sources.set(index, set);
      }
      set.add(wire);
    });
  }

  private onWarning(err: Error | string): void {
    const msg = typeof err === "string" ? err : err.message;
    const m = /^Piece (\d+) failed verification/.exec(msg);
    if (!m) return;
    const index = Number(m[1]);
    this.failedPieces++;
    const suspects = [...(this.sources.get(index) ?? [])];
    this.sources.delete(index);
    // Blocks from a peer banned meanwhile stay in the piece: that peer explains the failure.
    if (suspects.some((w) => this.banned.has(w.peerId))) return;
    for (const wire of suspects) {
      const n = (this.strikes.get(wire.peerId) ?? 0) + 1;
      this.strikes.set(wire.peerId, n);
      if (suspects.length === 1 || n >= this.maxStrikes) this.ban(wire, index);
    }
  }

  private ban(wire: PieceWire, index: number): void {
    if (this.banned.has(wire.peerId)) return;
    this.banned.add(wire.peerId);
    this.log.warn("peer sent data that fails the piece hashes: disconnected and banned", {
      torrent: this.torrent.infoHash,
      piece: index,
      peer: `${wire.remoteAddress}:${wire.remotePort}`,
    });
    wire.destroy();
  }
}
