// Which piece a seed offers which peer: super-seeding (BEP 16).
//
// A super-seeding seed sends no bitfield: it announces (have) one piece at a time to each
// peer, and serves a peer only the pieces it offered it. Rules (test/common/swarm/
// super-seeder.test.ts):
//   1. No second copy before every piece is out once: while some piece has never been offered,
//      only such pieces are offered. The seed's upload is the scarce resource at the start of
//      a staging; each byte of it should add a byte the swarm does not have yet.
//   2. Rarest to distinct peers: after that, the piece offered is the one with the fewest
//      copies the seed knows of (peers' haves, plus offers still on their way), seeded random
//      among ties; two peers are not offered the same piece while another is equally rare.
//   3. One offer at a time per peer (`offersPerPeer`): a peer gets its next offer once the
//      piece it was offered shows up at another peer (it passed it on), or at once when it
//      has nobody to pass it to (every other peer holds the piece, or it is alone: a lone
//      outside client is not held to one piece per 5 s), or else `reofferAfterMs` after it
//      was sent, so that a peer whose partners are slow does not stall the seed. A peer that
//      leaves gives back the offers it had not been sent.
// Pure: the engine reports peers, their haves and what the seed uploaded, and asks `offer`
// whenever a peer may take a new one (after `peerHave`, `sent`, or on its tick).
import type { Bitfield } from "./bitfield.js";
import { SeededRandom } from "../seeded-random.js";

export interface SuperSeederInit {
  pieceCount: number;
  seed: number;
  /** Offers a peer may hold at once (BEP 16: one). */
  offersPerPeer?: number;
  /** A sent offer frees its peer after this long even unseen elsewhere (default 5 s). */
  reofferAfterMs?: number;
}

interface Offer {
  piece: number;
  /** Sent by the seed or announced by the peer: another peer's have of it frees the offer. */
  delivered: boolean;
  /** When the seed finished sending it. */
  sentAt?: number;
}

interface PeerState<P> {
  id: P;
  has: Uint8Array;
  offers: Offer[];
}

export class SuperSeeder<P> {
  private readonly peers = new Map<P, PeerState<P>>();
  /** Copies of each piece the seed knows of: peers' haves plus offers not yet announced. */
  private readonly copies: Uint32Array;
  /** Times each piece was offered, minus offers given back unsent. */
  private readonly out: Uint32Array;
  /** Pieces never offered; rule 1 holds while this is above 0. */
  private neverOut: number;
  private readonly random: SeededRandom;
  private readonly offersPerPeer: number;
  private readonly reofferAfterMs: number;

  constructor(init: SuperSeederInit) {
    if (!(init.pieceCount > 0)) throw new RangeError(`piece count ${init.pieceCount}`);
    this.copies = new Uint32Array(init.pieceCount);
    this.out = new Uint32Array(init.pieceCount);
    this.neverOut = init.pieceCount;
    this.random = new SeededRandom(init.seed);
    this.offersPerPeer = init.offersPerPeer ?? 1;
    this.reofferAfterMs = init.reofferAfterMs ?? 5000;
  }

  /** Every piece has been offered at least once. */
  allOut(): boolean {
    return this.neverOut === 0;
  }

  /** Times `piece` was offered (and not given back). */
  timesOut(piece: number): number {
    return this.out[piece]!;
  }

  addPeer(peer: P, bits?: Bitfield): void {
    this.removePeer(peer);
    this.peers.set(peer, { id: peer, has: new Uint8Array(this.copies.length), offers: [] });
    if (bits) for (let p = 0; p < this.copies.length; p++) if (bits.has(p)) this.peerHave(peer, p);
  }

  removePeer(peer: P): void {
    const state = this.peers.get(peer);
    if (!state) return;
    this.peers.delete(peer);
    for (let p = 0; p < state.has.length; p++) if (state.has[p]) this.copies[p]!--;
    for (const o of state.offers) {
      if (!state.has[o.piece]) this.copies[o.piece]!--;
      if (!o.delivered) this.giveBack(o.piece);
    }
  }

  /**
   * `peer` announced `piece`. Returns the other peers whose offer of that piece this frees
   * (it reached a second peer): ask `offer` for them.
   */
  peerHave(peer: P, piece: number): P[] {
    const state = this.peers.get(peer);
    if (!state || state.has[piece]) return [];
    state.has[piece] = 1;
    const own = state.offers.findIndex((o) => o.piece === piece);
    if (own >= 0) {
      // Its own offer arrived: the copy was already counted; it now counts as a have. The offer
      // stays until another peer shows the piece (rule 3).
      state.offers[own]!.delivered = true;
      return [];
    }
    this.copies[piece]!++;
    const freed: P[] = [];
    for (const other of this.peers.values()) {
      if (other === state) continue;
      const i = other.offers.findIndex((o) => o.piece === piece && o.delivered);
      if (i < 0) continue;
      other.offers.splice(i, 1);
      // The offer's copy becomes the have it already is.
      if (!other.has[piece]) this.copies[piece]!--;
      freed.push(other.id);
    }
    return freed;
  }

  /** The seed finished uploading `piece` to `peer`. */
  sent(peer: P, piece: number, now: number): void {
    const o = this.peers.get(peer)?.offers.find((x) => x.piece === piece);
    if (!o) return;
    o.delivered = true;
    o.sentAt ??= now;
  }

  /** Whether the seed serves `peer` a request for `piece`: only pieces offered to it. */
  mayServe(peer: P, piece: number): boolean {
    return this.peers.get(peer)?.offers.some((o) => o.piece === piece) ?? false;
  }

  /** The pieces offered to `peer` and not yet freed. */
  offered(peer: P): number[] {
    return this.peers.get(peer)?.offers.map((o) => o.piece) ?? [];
  }

  /**
   * The next piece to announce to `peer`, or undefined: it holds its offers, it lacks no
   * piece the rules allow, or it is unknown. The offer counts from now on.
   */
  offer(peer: P, now: number): number | undefined {
    const state = this.peers.get(peer);
    if (!state) return undefined;
    // Rule 3's escapes: an offer delivered to a peer with nobody to pass it to (every other
    // peer holds the piece, or there is no other peer), or sent long ago, no longer holds the
    // peer back.
    for (let i = state.offers.length - 1; i >= 0; i--) {
      const o = state.offers[i]!;
      const sentAt = o.sentAt;
      if (
        (o.delivered && this.nobodyLacks(state, o.piece)) ||
        (sentAt !== undefined && now - sentAt >= this.reofferAfterMs)
      ) {
        const piece = state.offers[i]!.piece;
        state.offers.splice(i, 1);
        if (!state.has[piece]) this.copies[piece]!--;
      }
    }
    if (state.offers.length >= this.offersPerPeer) return undefined;
    const firstRound = this.neverOut > 0;
    let best = -1;
    let bestCopies = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (let p = 0; p < this.copies.length; p++) {
      if (state.has[p] || (firstRound && this.out[p]! > 0)) continue;
      if (state.offers.some((o) => o.piece === p)) continue;
      const c = this.copies[p]!;
      if (c < bestCopies) {
        best = p;
        bestCopies = c;
        ties = 1;
      } else if (c === bestCopies) {
        ties++;
        if (this.random.below(ties) === 0) best = p;
      }
    }
    if (best < 0) return undefined;
    if (this.out[best]! === 0) this.neverOut--;
    this.out[best]!++;
    this.copies[best]!++;
    state.offers.push({ piece: best, delivered: false });
    return best;
  }

  private nobodyLacks(state: PeerState<P>, piece: number): boolean {
    for (const other of this.peers.values()) if (other !== state && !other.has[piece]) return false;
    return true;
  }

  private giveBack(piece: number): void {
    this.out[piece]!--;
    if (this.out[piece]! === 0) this.neverOut++;
  }
}
