// Defence against peers that send wrong data. Every piece is checked against the torrent's
// SHA-1 before it is kept; a piece that fails is fetched again, possibly from the same peers.
// This remembers which peers sent blocks of each piece not yet verified; when a piece fails,
// each of them gets a strike, and a peer that was the only source of a bad piece, or that
// reaches `maxStrikes`, is to be disconnected and banned for the life of the torrent (by peer
// id, so a reconnect from another port is refused too). Pure: the session acts on the verdicts.
export class PeerStrikes {
  private readonly sources = new Map<number, Set<string>>();
  private readonly strikes = new Map<string, number>();
  readonly banned = new Set<string>();
  /** Pieces that failed their hash check, for reports and tests. */
  failedPieces = 0;

  constructor(private readonly maxStrikes = 2) {}

  /** `peer` sent a block of `piece`. */
  sent(piece: number, peer: string): void {
    let set = this.sources.get(piece);
    if (!set) {
      set = new Set();
      this.sources.set(piece, set);
    }
    set.add(peer);
  }

  verified(piece: number): void {
    this.sources.delete(piece);
  }

  /** The piece failed its check: the peers to ban now. */
  failed(piece: number): string[] {
    this.failedPieces++;
    const suspects = [...(this.sources.get(piece) ?? [])];
    this.sources.delete(piece);
    // Blocks from a peer banned meanwhile explain the failure: nobody else is blamed.
    if (suspects.some((p) => this.banned.has(p))) return [];
    const ban: string[] = [];
    for (const peer of suspects) {
      const n = (this.strikes.get(peer) ?? 0) + 1;
      this.strikes.set(peer, n);
      if (suspects.length === 1 || n >= this.maxStrikes) {
        this.banned.add(peer);
        ban.push(peer);
      }
    }
    return ban;
  }
}
