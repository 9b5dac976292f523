// Which blocks to request from which peer: the download side's piece selection.
//
// Rules, in order (each one is a unit test in test/common/swarm/piece-picker.test.ts):
//   1. Strict priority to finishing started pieces: a peer that holds a piece with blocks not
//      yet requested is asked for those before any new piece is started. A finished piece can
//      be verified, announced (have) and uploaded; five half pieces help nobody.
//   2. Otherwise rarest first: among the pieces the peer holds and we lack, the one that the
//      fewest of our peers hold; ties are broken by a seeded random choice, so that peers that
//      see the same availability still start different pieces, and a test replays the choice.
//   3. Endgame: once every block still missing is requested (none is left to hand out), a
//      block may be requested from a second peer too; the first answer wins and the picker
//      names the duplicate requests to cancel. Without it the last pieces wait on the slowest
//      peer that holds them.
// Blocks are tracked in chunks of `chunkBytes` (16 KiB, the standard block); a request covers
// one or more whole chunks, so peers that take larger blocks (Yard peers, request-pipeline.ts)
// and standard clients can share one torrent. A piece whose requests all came back unanswered
// (timed out, rejected, the peer choked or left) is no longer started and competes again by
// rarity.
//
// Pure: no I/O, no clock. The engine feeds it the peers' bitfields and haves and the outcome of
// every request, and asks `pick` when a connection has room in its pipeline.
import { Bitfield } from "./bitfield.js";
import { SeededRandom } from "../seeded-random.js";

import { STANDARD_BLOCK_BYTES } from "./request-pipeline.js";

export interface BlockRequest {
  piece: number;
  begin: number;
  length: number;
}

export interface PiecePickerInit {
  totalLength: number;
  pieceLength: number;
  /** The unit blocks are tracked in (default 16 KiB); requests cover whole units. */
  chunkBytes?: number;
  /** Seed of the tie-breaks (the engine derives it from the info hash and its peer id). */
  seed: number;
  /** Pieces held already, verified (a resumed fetch). */
  have?: Bitfield;
}

interface PeerState {
  bits: Bitfield;
  /** How many of its pieces we lack: the peer is interesting while this is above 0. */
  wanted: number;
}

const FREE = 0;
const REQUESTED = 1;
const RECEIVED = 2;

interface Outstanding<P> {
  chunk: number;
  count: number;
  /** More than one only in endgame. */
  peers: P[];
}

interface Started<P> {
  chunks: Uint8Array;
  free: number;
  received: number;
  requests: Outstanding<P>[];
}

export interface Received<P> {
  /** False when the block was not asked for, or another peer's copy came first. */
  useful: boolean;
  /** Every chunk of the piece is in: verify it, then call `verified` or `failed`. */
  pieceComplete: boolean;
  /** The same block asked of other peers (endgame): send them a cancel. */
  cancels: { peer: P; request: BlockRequest }[];
}

export class PiecePicker<P> {
  readonly pieceCount: number;
  readonly have: Bitfield;
  private readonly chunkBytes: number;
  private readonly availability: Uint32Array;
  private readonly peers = new Map<P, PeerState>();
  /** Pieces started and not yet verified, in the order they were started. */
  private readonly started = new Map<number, Started<P>>();
  /** Pieces we lack that are not started: the candidates of rarest first (unordered). */
  private readonly fresh: number[] = [];
  private readonly freshAt: Int32Array;
  /** Chunks of pieces we lack that nobody has been asked for; 0 means endgame. */
  private freeChunks = 0;
  private readonly random: SeededRandom;

  constructor(private readonly init: PiecePickerInit) {
    if (!(init.pieceLength > 0) || !(init.totalLength > 0))
      throw new RangeError(`piece length ${init.pieceLength}, total ${init.totalLength}`);
    this.chunkBytes = init.chunkBytes ?? STANDARD_BLOCK_BYTES;
    this.pieceCount = Math.ceil(init.totalLength / init.pieceLength);
    this.have = init.have ?? new Bitfield(this.pieceCount);
    if (this.have.length !== this.pieceCount)
      throw new RangeError(`have: ${this.have.length} pieces, the torrent has ${this.pieceCount}`);
    this.availability = new Uint32Array(this.pieceCount);
    this.freshAt = new Int32Array(this.pieceCount).fill(-1);
    this.random = new SeededRandom(init.seed);
    for (let p = 0; p < this.pieceCount; p++) {
      if (this.have.has(p)) continue;
      this.addFresh(p);
      this.freeChunks += this.chunksOf(p);
    }
  }

  pieceBytes(piece: number): number {
    return Math.min(this.init.pieceLength, this.init.totalLength - piece * this.init.pieceLength);
  }

  private chunksOf(piece: number): number {
    return Math.ceil(this.pieceBytes(piece) / this.chunkBytes);
  }

  complete(): boolean {
    return this.have.complete();
  }

  /** Every missing block is asked of someone: `pick` now hands out duplicates. */
  inEndgame(): boolean {
    return this.freeChunks === 0 && !this.complete();
  }

  /** How many connected peers hold `piece`. */
  availabilityOf(piece: number): number {
    return this.availability[piece]!;
  }

  /** The peer holds a piece we lack: we should be interested in it. */
  interesting(peer: P): boolean {
    return (this.peers.get(peer)?.wanted ?? 0) > 0;
  }

  /** A peer connected, with its bitfield (none: it holds nothing yet). Returns `interesting`. */
  addPeer(peer: P, bits?: Bitfield): boolean {
    if (this.peers.has(peer)) this.removePeer(peer);
    const state: PeerState = { bits: new Bitfield(this.pieceCount), wanted: 0 };
    this.peers.set(peer, state);
    if (bits) for (let p = 0; p < this.pieceCount; p++) if (bits.has(p)) this.peerHave(peer, p);
    return state.wanted > 0;
  }

  /** The peer announced `piece`. True when this made the peer interesting (it was not). */
  peerHave(peer: P, piece: number): boolean {
    const state = this.peers.get(peer);
    if (!state?.bits.set(piece)) return false;
    this.availability[piece]!++;
    if (this.have.has(piece)) return false;
    state.wanted++;
    return state.wanted === 1;
  }

  /** The peer is gone: its pieces no longer count, and its requests are handed out again. */
  removePeer(peer: P): BlockRequest[] {
    const state = this.peers.get(peer);
    if (!state) return [];
    for (let p = 0; p < this.pieceCount; p++) if (state.bits.has(p)) this.availability[p]!--;
    this.peers.delete(peer);
    const released: BlockRequest[] = [];
    for (const [piece, s] of [...this.started]) {
      for (const r of [...s.requests]) {
        if (!r.peers.includes(peer)) continue;
        const request = this.toRequest(piece, r);
        this.released(peer, request);
        released.push(request);
      }
    }
    return released;
  }

  /**
   * Up to `max` requests for `peer`, each at most `maxBlockBytes` long (whole chunks), and
   * marks them asked of it. Empty when the peer has nothing we still need to ask for.
   */
  pick(peer: P, max: number, maxBlockBytes: number = this.chunkBytes): BlockRequest[] {
    const state = this.peers.get(peer);
    const out: BlockRequest[] = [];
    if (!state || state.wanted === 0 || max <= 0) return out;
    const perRequest = Math.max(1, Math.floor(maxBlockBytes / this.chunkBytes));
    // Rule 1: the started pieces first, oldest first.
    for (const [piece, s] of this.started) {
      if (out.length >= max) return out;
      if (s.free > 0 && state.bits.has(piece)) this.carve(peer, piece, s, perRequest, max, out);
    }
    // Rule 2: new pieces, rarest first.
    while (out.length < max) {
      const piece = this.rarest(state.bits);
      if (piece < 0) break;
      this.removeFresh(piece);
      const s: Started<P> = {
        chunks: new Uint8Array(this.chunksOf(piece)),
        free: this.chunksOf(piece),
        received: 0,
        requests: [],
      };
      this.started.set(piece, s);
      this.carve(peer, piece, s, perRequest, max, out);
    }
    // Rule 3: endgame duplicates, the least asked blocks first.
    if (out.length < max && this.freeChunks === 0) this.duplicates(peer, state, maxBlockBytes, max, out);
    return out;
  }

  private rarest(bits: Bitfield): number {
    let best = -1;
    let bestCount = Number.POSITIVE_INFINITY;
    let ties = 0;
    const fresh = this.fresh;
    for (let i = 0; i < fresh.length; i++) {
      const p = fresh[i]!;
      if (!bits.has(p)) continue;
      const a = this.availability[p]!;
      if (a < bestCount) {
        best = p;
        bestCount = a;
        ties = 1;
      } else if (a === bestCount) {
        // Reservoir sampling: each of the k tied pieces ends up chosen with probability 1/k.
        ties++;
        if (this.random.below(ties) === 0) best = p;
      }
    }
    return best;
  }

  private carve(peer: P, piece: number, s: Started<P>, perRequest: number, max: number, out: BlockRequest[]) {
    let c = 0;
    while (out.length < max && s.free > 0 && c < s.chunks.length) {
      if (s.chunks[c] !== FREE) {
        c++;
        continue;
      }
      let n = 0;
      while (n < perRequest && c + n < s.chunks.length && s.chunks[c + n] === FREE) {
        s.chunks[c + n] = REQUESTED;
        n++;
      }
      s.free -= n;
      this.freeChunks -= n;
      const r: Outstanding<P> = { chunk: c, count: n, peers: [peer] };
      s.requests.push(r);
      out.push(this.toRequest(piece, r));
      c += n;
    }
  }

  private duplicates(peer: P, state: PeerState, maxBlockBytes: number, max: number, out: BlockRequest[]) {
    const candidates: { piece: number; r: Outstanding<P> }[] = [];
    for (const [piece, s] of this.started) {
      if (!state.bits.has(piece)) continue;
      for (const r of s.requests) {
        if (r.peers.includes(peer)) continue;
        if (this.toRequest(piece, r).length > maxBlockBytes) continue;
        candidates.push({ piece, r });
      }
    }
    this.random.shuffle(candidates);
    candidates.sort((a, b) => a.r.peers.length - b.r.peers.length);
    for (const { piece, r } of candidates) {
      if (out.length >= max) break;
      r.peers.push(peer);
      out.push(this.toRequest(piece, r));
    }
  }

  /** A block came in from `peer`. */
  received(peer: P, request: BlockRequest): Received<P> {
    const none: Received<P> = { useful: false, pieceComplete: false, cancels: [] };
    const s = this.started.get(request.piece);
    if (!s) return none;
    const i = s.requests.findIndex((r) => r.chunk * this.chunkBytes === request.begin);
    if (i < 0) return none;
    const r = s.requests[i]!;
    if (!r.peers.includes(peer) || this.toRequest(request.piece, r).length !== request.length) return none;
    s.requests.splice(i, 1);
    for (let c = r.chunk; c < r.chunk + r.count; c++) s.chunks[c] = RECEIVED;
    s.received += r.count;
    const cancels = r.peers.filter((q) => q !== peer).map((q) => ({ peer: q, request }));
    return { useful: true, pieceComplete: s.received === s.chunks.length, cancels };
  }

  /** A request of `peer` will not be answered (timed out, rejected, choked): hand it out again. */
  released(peer: P, request: BlockRequest): void {
    const s = this.started.get(request.piece);
    if (!s) return;
    const i = s.requests.findIndex((r) => r.chunk * this.chunkBytes === request.begin);
    if (i < 0) return;
    const r = s.requests[i]!;
    const at = r.peers.indexOf(peer);
    if (at < 0) return;
    r.peers.splice(at, 1);
    if (r.peers.length > 0) return;
    s.requests.splice(i, 1);
    for (let c = r.chunk; c < r.chunk + r.count; c++) s.chunks[c] = FREE;
    s.free += r.count;
    this.freeChunks += r.count;
    if (s.received === 0 && s.requests.length === 0) {
      // Nothing of it arrived: it is not started any more and competes by rarity again.
      this.started.delete(request.piece);
      this.addFresh(request.piece);
    }
  }

  /**
   * The piece passed its hash check: it is ours (announce it, upload it). Returns the peers
   * that are no longer interesting (they hold nothing else we lack): tell them.
   */
  verified(piece: number): P[] {
    if (!this.started.delete(piece) || !this.have.set(piece)) return [];
    const done: P[] = [];
    for (const [peer, state] of this.peers) {
      if (state.bits.has(piece) && --state.wanted === 0) done.push(peer);
    }
    return done;
  }

  /** The piece failed its hash check: all of it is fetched again. */
  failed(piece: number): void {
    const s = this.started.get(piece);
    if (!s || s.requests.length > 0) {
      if (s) throw new Error(`piece ${piece} failed while blocks of it are still asked for`);
      return;
    }
    this.started.delete(piece);
    this.freeChunks += s.chunks.length - s.free;
    this.addFresh(piece);
  }

  private toRequest(piece: number, r: Outstanding<P>): BlockRequest {
    const begin = r.chunk * this.chunkBytes;
    return { piece, begin, length: Math.min(r.count * this.chunkBytes, this.pieceBytes(piece) - begin) };
  }

  private addFresh(piece: number): void {
    this.freshAt[piece] = this.fresh.length;
    this.fresh.push(piece);
  }

  private removeFresh(piece: number): void {
    const i = this.freshAt[piece]!;
    const last = this.fresh.pop()!;
    if (last !== piece) {
      this.fresh[i] = last;
      this.freshAt[last] = i;
    }
    this.freshAt[piece] = -1;
  }
}
