// One torrent in the swarm engine: its file, its peers, and the loop that feeds the pure
// core (piece-picker, choker, super-seeder, request-pipeline) the wire's events and carries
// out its decisions. The engine (swarm-engine.ts) owns the sockets and hands each connection
// here once its handshake named this torrent.
//
// What happens on the hot path, per block: a lookup of the request it answers, the picker's
// bookkeeping, and for a block smaller than its piece one copy into the piece's buffer. A
// whole piece is hashed once, announced (have) to every peer at once, kept in memory for the
// peers that ask for it next, and written with one positional write. Between Yard peers a
// block is a whole piece (negotiated in the extended handshake), so most of this runs once
// per piece instead of once per 16 KiB.
//
// Membership of the private swarm (common/swarm-auth.ts) is checked here: a peer is admitted
// (its bitfield counted, its requests served, unchoked) only once its proof checked out, or
// at once when `admitWithoutProof` lets its address in (an operator's grant).
import { randomBytes, timingSafeEqual } from "node:crypto";
import { EventEmitter } from "node:events";
import path from "node:path";
import type { Logger } from "../logger.js";
import { SWARM_AUTH_EXTENSION, SWARM_NONCE_BYTES, SWARM_NONCE_KEY, swarmProof } from "../swarm-auth.js";
import { Bitfield } from "./bitfield.js";
import type { BufferPool } from "./buffer-pool.js";
import { type ChokeDecision, Choker } from "./choker.js";
import { PeerStrikes } from "./peer-strikes.js";
import type { PeerWire, WireHandler } from "./peer-wire.js";
import { type BlockRequest, PiecePicker } from "./piece-picker.js";
import { PieceFile } from "./piece-file.js";
import {
  negotiateBlockBytes,
  RequestPipeline,
  requestBudget,
  STANDARD_BLOCK_BYTES,
} from "./request-pipeline.js";
import { SuperSeeder } from "./super-seeder.js";
import type { TokenBucket } from "./token-bucket.js";
import { type PeerAddress, TrackerAnnouncer } from "./tracker-announcer.js";
import type https from "node:https";

/** The extended-handshake key in which a Yard peer advertises the largest block it serves. */
export const YARD_BLOCK_KEY = "yard_block";
/** The largest request served to a standard client (they ask for 16 KiB; some for more). */
const STANDARD_MAX_REQUEST = 128 * 1024;
/** Whole pieces recently completed or read, kept for the peers that ask for them next. */
const RECENT_PIECES = 8;
const TICK_MS = 500;

export interface TorrentMeta {
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  /** SHA-1 of each piece, hex. */
  pieces: string[];
  announce: string[];
  files: { name: string; path: string; length: number }[];
}

export interface SessionAuth {
  /** The swarm key; undefined while not known: every peer is refused. */
  key: () => Uint8Array | undefined;
  admitWithoutProof?: (remoteAddress: string, infoHash: string) => boolean;
  timeoutMs: number;
  counts: { verified: number; granted: number; refused: number };
}

export interface SessionInit {
  meta: TorrentMeta;
  dir: string;
  skipVerify: boolean;
  /** Offer pieces one at a time (BEP 16): the master's seed. */
  superSeed: boolean;
  peerId: string;
  auth: SessionAuth;
  upload: TokenBucket;
  download: TokenBucket;
  pool: BufferPool;
  /** The largest block this side serves a Yard peer, and asks of one. */
  maxBlockBytes: number;
  uploadSlots: number;
  /** Seed role: the longest turn of a peer while others wait. */
  turnMs: number;
  maxConns: number;
  listenPort: () => number;
  announceParams?: () => Record<string, string>;
  httpsAgent?: https.Agent;
  /** Opens a connection to a peer the tracker named; the engine hands it back through `attach`. */
  dial: (address: PeerAddress, session: TorrentSession) => void;
  log: Logger;
}

/**
 * A whole piece in memory, shared by the recent-pieces cache, its disk write and the sends
 * that serve it; its pooled buffer goes back to the pool when the last of them lets go.
 */
interface HeldPiece {
  bytes: Buffer;
  owner: Buffer | undefined;
  refs: number;
}

export interface PeerStats {
  peerId: string;
  address: string;
  /** It advertised a block size in its extended handshake: a Yard peer. */
  yard: boolean;
  /** The block size of our requests to it. */
  blockBytes: number;
  downloaded: number;
  uploaded: number;
}

interface Outstanding {
  req: BlockRequest;
  sentAt: number;
}

class Peer {
  admitted = false;
  bits: Bitfield;
  /** The largest block the peer serves (its extended handshake); undefined: a standard client. */
  theirBlock: number | undefined;
  /** The port it listens on (its extended handshake's "p"), to know it among the tracker's peers. */
  listenPort: number | undefined;
  blockBytes = STANDARD_BLOCK_BYTES;
  pipeline = new RequestPipeline({ blockBytes: STANDARD_BLOCK_BYTES });
  readonly outstanding = new Map<number, Outstanding>();
  /** Its requests waiting to be served, in order. */
  readonly wants: BlockRequest[] = [];
  sending = false;
  readonly nonce = randomBytes(SWARM_NONCE_BYTES);
  theirNonce: Uint8Array | undefined;
  authTimer: NodeJS.Timeout | undefined;
  uploaded = 0;
  downloaded = 0;

  constructor(
    readonly wire: PeerWire,
    pieceCount: number,
    readonly outgoing: boolean,
  ) {
    this.bits = new Bitfield(pieceCount);
  }

  get id(): string {
    return this.wire.peerId;
  }
}

const key = (piece: number, begin: number) => piece * 0x100000000 + begin;

export class TorrentSession extends EventEmitter {
  readonly infoHash: string;
  readonly name: string;
  readonly length: number;
  readonly pieceLength: number;
  readonly path: string;
  readonly files: { name: string; path: string; length: number }[];
  ready = false;
  done = false;
  destroyed = false;
  /** Payload bytes received (all of them, duplicates too) and sent since the start. */
  downloaded = 0;
  uploaded = 0;
  downloadSpeed = 0;
  uploadSpeed = 0;

  readonly strikes = new PeerStrikes();
  private file: PieceFile | undefined;
  private picker: PiecePicker<Peer> | undefined;
  private choker: Choker<Peer> | undefined;
  private superSeeder: SuperSeeder<Peer> | undefined;
  private announcer: TrackerAnnouncer | undefined;
  private readonly peers = new Set<Peer>();
  private readonly byId = new Map<string, Peer>();
  /** Addresses being dialled or connected, "host:port". */
  private readonly dialing = new Set<string>();
  private readonly assembling = new Map<number, { bytes: Buffer; owner: Buffer | undefined }>();
  private readonly recent = new Map<number, HeldPiece>();
  private pendingWrites = 0;
  private inFlightBytes = 0;
  private sendingNow = 0;
  private ticker: NodeJS.Timeout | undefined;
  private fillTimer: NodeJS.Timeout | undefined;
  private lastRechoke = 0;
  private rateSample = { at: performance.now(), down: 0, up: 0 };
  private readonly seed: number;

  constructor(private readonly init: SessionInit) {
    super();
    const m = init.meta;
    this.infoHash = m.infoHash;
    this.name = m.name;
    this.length = m.length;
    this.pieceLength = m.pieceLength;
    this.path = init.dir;
    this.files = m.files.map((f) => ({ name: f.name, path: f.path, length: f.length }));
    // Tie-breaks differ per torrent and per peer, and replay for a given pair.
    this.seed = Number.parseInt(m.infoHash.slice(0, 8), 16) ^ Number.parseInt(init.peerId.slice(-8), 16);
  }

  get numPeers(): number {
    let n = 0;
    for (const p of this.peers) if (p.admitted) n++;
    return n;
  }

  /** Opens the file, checks what it holds (unless told not to), and starts announcing. */
  async start(): Promise<void> {
    const m = this.init.meta;
    if (m.files.length !== 1) throw new Error(`holds ${m.files.length} files; a release is one file`);
    const hashes = m.pieces.map((h) => Buffer.from(h, "hex"));
    const file = await PieceFile.open(
      path.join(this.init.dir, m.files[0]!.path),
      m.length,
      m.pieceLength,
      hashes,
    );
    if (this.destroyed) {
      await file.close();
      return;
    }
    this.file = file;
    const have = this.init.skipVerify ? Bitfield.full(hashes.length) : await file.check();
    if (this.destroyed) return;
    this.picker = new PiecePicker<Peer>({
      totalLength: m.length,
      pieceLength: m.pieceLength,
      seed: this.seed,
      have,
    });
    const complete = have.complete();
    this.choker = new Choker<Peer>({
      role: complete ? "seed" : "download",
      seed: this.seed,
      slots: this.init.uploadSlots,
      maxTurnMs: this.init.turnMs,
    });
    if (complete && this.init.superSeed)
      this.superSeeder = new SuperSeeder<Peer>({ pieceCount: hashes.length, seed: this.seed });
    this.ready = true;
    this.done = complete;
    this.ticker = setInterval(() => this.tick(), TICK_MS);
    this.ticker.unref();
    this.announcer = new TrackerAnnouncer({
      urls: m.announce,
      infoHash: m.infoHash,
      peerId: this.init.peerId,
      port: this.init.listenPort,
      stats: () => ({ uploaded: this.uploaded, downloaded: this.downloaded, left: this.left() }),
      params: this.init.announceParams,
      httpsAgent: this.init.httpsAgent,
      onPeers: (peers) => this.addPeers(peers),
      onWarning: (w) => this.emit("warning", w),
    });
    if (complete) this.emit("done");
    this.announcer.announceNow();
  }

  /** The admitted peers: whom we trade with, in which block size, and how much (diagnostics, tests). */
  peerStats(): PeerStats[] {
    const out: PeerStats[] = [];
    for (const p of this.peers) {
      if (!p.admitted) continue;
      out.push({
        peerId: p.id,
        address: `${p.wire.remoteAddress}:${p.wire.remotePort}`,
        yard: p.theirBlock !== undefined,
        blockBytes: p.blockBytes,
        downloaded: p.downloaded,
        uploaded: p.uploaded,
      });
    }
    return out;
  }

  /** Announces again now (new credentials, a new tracker). */
  announceNow(): void {
    this.announcer?.announceNow();
  }

  private left(): number {
    const p = this.picker;
    if (!p) return this.length;
    let left = 0;
    for (let i = 0; i < p.pieceCount; i++) if (!p.have.has(i)) left += p.pieceBytes(i);
    return left;
  }

  /** Dials peers (the tracker's answer, or given) not connected yet, within the connection limit. */
  addPeers(addresses: PeerAddress[]): void {
    for (const a of addresses) {
      if (this.destroyed || this.peers.size + this.dialing.size >= this.init.maxConns) return;
      const k = `${a.host}:${a.port}`;
      if (this.dialing.has(k) || this.connectedTo(a)) continue;
      this.dialing.add(k);
      this.init.dial(a, this);
    }
  }

  /** Connected to the peer listening at `a`, by our dial or by its (whose listen port it told). */
  private connectedTo(a: PeerAddress): boolean {
    for (const p of this.peers) {
      if (p.wire.remoteAddress !== a.host) continue;
      if ((p.outgoing ? p.wire.remotePort : p.listenPort) === a.port) return true;
    }
    return false;
  }

  /** A dial to `address` ended (connected or not): it may be dialled again later. */
  dialed(address: PeerAddress): void {
    this.dialing.delete(`${address.host}:${address.port}`);
  }

  /** A connection whose handshake named this torrent; the session takes it or closes it. */
  attach(wire: PeerWire, outgoing: boolean): void {
    if (this.destroyed || !this.picker) {
      wire.close("the torrent is not open");
      return;
    }
    if (wire.peerId === this.init.peerId) {
      wire.close("a connection to ourselves");
      return;
    }
    if (this.strikes.banned.has(wire.peerId)) {
      wire.close("banned: sent data that failed the piece hashes");
      return;
    }
    const old = this.byId.get(wire.peerId);
    if (old) {
      // Both sides dialled each other: both keep the connection the lower peer id opened.
      const keepNew = outgoing === this.init.peerId < wire.peerId;
      if (!keepNew) {
        wire.close("already connected to this peer");
        return;
      }
      old.wire.close("replaced by the connection the lower peer id opened");
    }
    if (this.peers.size >= this.init.maxConns) {
      wire.close("too many peers");
      return;
    }
    const peer = new Peer(wire, this.picker.pieceCount, outgoing);
    this.peers.add(peer);
    this.byId.set(wire.peerId, peer);
    // Our extended handshake goes out before anything of the peer's is read: what we answer
    // (the proof) must follow it on the wire.
    wire.extendedHandshake({
      v: "Yard",
      p: this.init.listenPort(),
      [YARD_BLOCK_KEY]: this.init.maxBlockBytes,
      [SWARM_NONCE_KEY]: peer.nonce,
    });
    wire.start(this.handler(peer));
    // Every connection whose handshake went through, admitted or not (tests, diagnostics).
    this.emit("connection", wire);
    if (wire.remoteAddress && this.init.auth.admitWithoutProof?.(wire.remoteAddress, this.infoHash)) {
      this.init.auth.counts.granted++;
      this.admit(peer);
      return;
    }
    // On a busy host the event loop can stall past the deadline with the proof already in the
    // socket's buffer; timers run before I/O is read, so the verdict waits one turn
    // (setImmediate runs after the poll phase) to let a proof that did arrive be read first.
    peer.authTimer = setTimeout(
      () => setImmediate(() => this.refuse(peer, "proved nothing in time")),
      this.init.auth.timeoutMs,
    );
    peer.authTimer.unref();
  }

  private refuse(peer: Peer, why: string): void {
    if (peer.admitted || peer.wire.closed) return;
    this.init.auth.counts.refused++;
    this.init.log.debug("swarm peer refused", { torrent: this.infoHash, peer: peer.wire.remoteAddress, why });
    peer.wire.close(`refused: ${why}`);
  }

  private admit(peer: Peer): void {
    if (peer.admitted || peer.wire.closed) return;
    clearTimeout(peer.authTimer);
    peer.admitted = true;
    const now = performance.now();
    this.choker!.joined(peer, now);
    if (this.superSeeder) {
      peer.wire.haveNone();
      this.superSeeder.addPeer(peer, peer.bits);
      this.offer(peer);
    } else if (this.picker!.have.count() > 0) peer.wire.bitfield(this.picker!.have.bytes);
    else peer.wire.haveNone();
    if (this.picker!.addPeer(peer, peer.bits) && !this.done) peer.wire.interested(true);
    if (peer.wire.peerInterested) this.applyChokes(this.choker!.interested(peer, true, now));
  }

  private handler(peer: Peer): WireHandler {
    const wire = peer.wire;
    const pieceCount = this.picker!.pieceCount;
    const validPiece = (i: number) => {
      if (i < pieceCount) return true;
      wire.close(`piece ${i} does not exist (the torrent has ${pieceCount})`);
      return false;
    };
    return {
      extendedHandshake: (d) => {
        if (typeof d.p === "number" && d.p > 0 && d.p < 65536) peer.listenPort = d.p;
        const block = d[YARD_BLOCK_KEY];
        if (typeof block === "number" && block > 0) peer.theirBlock = block;
        peer.blockBytes = negotiateBlockBytes(
          peer.theirBlock !== undefined ? this.init.maxBlockBytes : undefined,
          peer.theirBlock,
          this.pieceLength,
        );
        if (peer.pipeline.inFlight() === 0)
          peer.pipeline = new RequestPipeline({ blockBytes: peer.blockBytes });
        if (peer.admitted) return;
        const nonce = d[SWARM_NONCE_KEY];
        const k = this.init.auth.key();
        if (!wire.peerExtensions[SWARM_AUTH_EXTENSION])
          return this.refuse(peer, `no ${SWARM_AUTH_EXTENSION}`);
        if (!(nonce instanceof Uint8Array) || nonce.length !== SWARM_NONCE_BYTES)
          return this.refuse(peer, "no nonce in its handshake");
        if (!k) return this.refuse(peer, "the swarm key is not known yet");
        peer.theirNonce = nonce;
        wire.extended(
          SWARM_AUTH_EXTENSION,
          swarmProof(
            k,
            this.infoHash,
            { peerId: this.init.peerId, nonce: peer.nonce },
            { peerId: wire.peerId, nonce },
          ),
        );
      },
      extended: (name, payload) => {
        if (name !== SWARM_AUTH_EXTENSION || peer.admitted) return;
        const k = this.init.auth.key();
        if (!peer.theirNonce || !k) return this.refuse(peer, "a proof before the handshake");
        const want = swarmProof(
          k,
          this.infoHash,
          { peerId: wire.peerId, nonce: peer.theirNonce },
          { peerId: this.init.peerId, nonce: peer.nonce },
        );
        if (payload.length === want.length && timingSafeEqual(payload, want)) {
          this.init.auth.counts.verified++;
          this.admit(peer);
        } else this.refuse(peer, "wrong proof");
      },
      bitfield: (bytes) => {
        try {
          peer.bits = new Bitfield(pieceCount, bytes);
        } catch (err) {
          wire.close(`bad bitfield: ${(err as Error).message}`);
          return;
        }
        this.peerBitsChanged(peer);
      },
      haveAll: () => {
        peer.bits = Bitfield.full(pieceCount);
        this.peerBitsChanged(peer);
      },
      haveNone: () => undefined,
      have: (i) => {
        if (!validPiece(i) || !peer.bits.set(i) || !peer.admitted) return;
        if (this.superSeeder) {
          for (const freed of this.superSeeder.peerHave(peer, i)) this.offer(freed);
          this.offer(peer);
        }
        if (this.picker!.peerHave(peer, i) && !this.done) wire.interested(true);
        else this.fill(peer);
      },
      interested: (yes) => {
        if (peer.admitted) this.applyChokes(this.choker!.interested(peer, yes, performance.now()));
      },
      choke: () => this.releaseAll(peer),
      unchoke: () => this.fill(peer),
      request: (piece, begin, length) => this.onRequest(peer, piece, begin, length),
      cancel: (piece, begin) => {
        const i = peer.wants.findIndex((r) => r.piece === piece && r.begin === begin);
        if (i >= 0) peer.wants.splice(i, 1);
      },
      reject: (piece, begin) => {
        const o = peer.outstanding.get(key(piece, begin));
        if (o) this.release(peer, o);
        this.fillAll();
      },
      piece: (piece, begin, block, owner) => this.onBlock(peer, piece, begin, block, owner),
      closed: (reason) => this.removePeer(peer, reason),
    };
  }

  private peerBitsChanged(peer: Peer): void {
    if (!peer.admitted) return;
    this.superSeeder?.addPeer(peer, peer.bits);
    this.releaseAll(peer);
    if (this.picker!.addPeer(peer, peer.bits) && !this.done) peer.wire.interested(true);
    if (this.superSeeder) this.offer(peer);
  }

  private removePeer(peer: Peer, reason: string): void {
    if (!this.peers.delete(peer)) return;
    if (this.byId.get(peer.id) === peer) this.byId.delete(peer.id);
    clearTimeout(peer.authTimer);
    for (const o of peer.outstanding.values()) this.inFlightBytes -= o.req.length;
    peer.outstanding.clear();
    peer.wants.length = 0;
    this.init.log.debug("peer left", { torrent: this.infoHash, peer: peer.wire.remoteAddress, reason });
    if (!peer.admitted || this.destroyed) return;
    this.picker!.removePeer(peer);
    this.superSeeder?.removePeer(peer);
    this.applyChokes(this.choker!.left(peer, performance.now()));
    this.fillAll();
  }

  // Uploading.

  private onRequest(peer: Peer, piece: number, begin: number, length: number): void {
    const wire = peer.wire;
    if (piece >= this.picker!.pieceCount) {
      wire.close(`a request for piece ${piece} of ${this.picker!.pieceCount}`);
      return;
    }
    const max = peer.theirBlock !== undefined ? this.init.maxBlockBytes : STANDARD_MAX_REQUEST;
    if (length === 0 || length > max || begin + length > this.picker!.pieceBytes(piece)) {
      wire.close(
        `a request of ${length} bytes at ${begin} in piece ${piece}, out of bounds (at most ${max})`,
      );
      return;
    }
    const servable =
      peer.admitted &&
      !wire.amChoking &&
      this.picker!.have.has(piece) &&
      (!this.superSeeder || this.superSeeder.mayServe(peer, piece));
    if (!servable) {
      wire.reject(piece, begin, length);
      return;
    }
    peer.wants.push({ piece, begin, length });
    this.pump();
  }

  /**
   * Serves waiting requests: two blocks in flight at most, one per peer, taken round the
   * peers, so a block leaves at the full upload rate instead of splitting it among every peer
   * with a request, and a piece reaches its peer (which can pass it on) as soon as possible.
   */
  private pump(): void {
    if (this.sendingNow >= 2 || this.destroyed) return;
    for (const peer of this.peers) {
      if (this.sendingNow >= 2) return;
      if (peer.sending || peer.wants.length === 0) continue;
      const req = peer.wants.shift()!;
      peer.sending = true;
      this.sendingNow++;
      void this.send(peer, req).finally(() => {
        peer.sending = false;
        this.sendingNow--;
        // Round robin: the peer just served goes to the back.
        if (this.peers.delete(peer)) this.peers.add(peer);
        this.pump();
      });
    }
  }

  private async send(peer: Peer, req: BlockRequest): Promise<void> {
    const wait = this.init.upload.waitMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (peer.wire.closed || peer.wire.amChoking || this.destroyed) return;
    let held: HeldPiece;
    try {
      held = await this.pieceInMemory(req.piece);
    } catch (err) {
      this.emit("warning", `cannot read piece ${req.piece}: ${(err as Error).message}`);
      peer.wire.reject(req.piece, req.begin, req.length);
      return;
    }
    if (peer.wire.closed || this.destroyed) return;
    const block = held.bytes.subarray(req.begin, req.begin + req.length);
    this.init.upload.take(block.length);
    held.refs++;
    const sent = peer.wire.piece(req.piece, req.begin, block);
    this.uploaded += block.length;
    peer.uploaded += block.length;
    if (this.choker!.role() === "seed") this.choker!.transferred(peer, block.length);
    await sent;
    this.letGo(held);
    if (this.superSeeder && req.begin + req.length >= this.picker!.pieceBytes(req.piece)) {
      this.superSeeder.sent(peer, req.piece, performance.now());
      this.offer(peer);
    }
  }

  /** The whole piece, from the recent pieces or read from the file into a pooled buffer. */
  private async pieceInMemory(piece: number): Promise<HeldPiece> {
    const cached = this.recent.get(piece);
    if (cached) return cached;
    const size = this.picker!.pieceBytes(piece);
    const owner = this.init.pool.acquire(size);
    try {
      await this.file!.readInto(owner, piece);
    } catch (err) {
      this.init.pool.release(owner);
      throw err;
    }
    // Another send may have read it meanwhile: keep one copy.
    const again = this.recent.get(piece);
    if (again) {
      this.init.pool.release(owner);
      return again;
    }
    const held: HeldPiece = { bytes: owner, owner, refs: 0 };
    this.remember(piece, held);
    return held;
  }

  private remember(piece: number, held: HeldPiece): void {
    const old = this.recent.get(piece);
    if (old === held) return;
    if (old) {
      this.recent.delete(piece);
      this.letGo(old);
    }
    held.refs++;
    this.recent.set(piece, held);
    if (this.recent.size > RECENT_PIECES) {
      const [oldest, h] = this.recent.entries().next().value!;
      this.recent.delete(oldest);
      this.letGo(h);
    }
  }

  private letGo(held: HeldPiece): void {
    if (--held.refs > 0 || !held.owner) return;
    this.init.pool.release(held.owner);
    held.owner = undefined;
  }

  private offer(peer: Peer): void {
    const piece = this.superSeeder?.offer(peer, performance.now());
    if (piece !== undefined) peer.wire.have(piece);
  }

  private applyChokes(d: ChokeDecision<Peer>): void {
    for (const p of d.choke) {
      p.wire.choke();
      // Requests not yet served are dropped; a fast-extension peer is told which.
      for (const r of p.wants.splice(0)) p.wire.reject(r.piece, r.begin, r.length);
    }
    for (const p of d.unchoke) p.wire.unchoke();
  }

  // Downloading.

  private fillAll(): void {
    if (this.done || !this.picker) return;
    for (const peer of this.peers) this.fill(peer);
  }

  private fill(peer: Peer): void {
    const picker = this.picker;
    const wire = peer.wire;
    if (!picker || this.done || !peer.admitted || wire.peerChoking || !wire.amInterested) return;
    const wait = this.init.download.waitMs();
    if (wait > 0) {
      this.fillTimer ??= setTimeout(() => {
        this.fillTimer = undefined;
        this.fillAll();
      }, wait);
      return;
    }
    const budget = requestBudget(this.downloadSpeed, peer.blockBytes, 500, 6) * peer.blockBytes;
    const byBudget = Math.floor((budget - this.inFlightBytes) / peer.blockBytes);
    const room = Math.min(peer.pipeline.room(), byBudget);
    if (room <= 0) return;
    const now = performance.now();
    for (const req of picker.pick(peer, room, peer.blockBytes)) {
      wire.request(req.piece, req.begin, req.length);
      peer.outstanding.set(key(req.piece, req.begin), { req, sentAt: now });
      peer.pipeline.sent();
      this.inFlightBytes += req.length;
      this.init.download.take(req.length);
    }
  }

  private release(peer: Peer, o: Outstanding): void {
    if (!peer.outstanding.delete(key(o.req.piece, o.req.begin))) return;
    this.inFlightBytes -= o.req.length;
    peer.pipeline.dropped();
    this.picker?.released(peer, o.req);
  }

  private releaseAll(peer: Peer): void {
    for (const o of [...peer.outstanding.values()]) this.release(peer, o);
    if (!this.destroyed) this.fillAll();
  }

  private onBlock(peer: Peer, piece: number, begin: number, block: Buffer, owner: Buffer): void {
    const o = peer.outstanding.get(key(piece, begin));
    this.downloaded += block.length;
    peer.downloaded += block.length;
    const drop = () => this.init.pool.release(owner);
    if (!o || o.req.length !== block.length) {
      drop(); // cancelled meanwhile, or never asked
      return;
    }
    peer.outstanding.delete(key(piece, begin));
    this.inFlightBytes -= block.length;
    const now = performance.now();
    if (peer.pipeline.inFlight() === 1) peer.pipeline.rttSample(Math.min(now - o.sentAt, 1000));
    peer.pipeline.answered(block.length, now);
    if (this.choker!.role() === "download") this.choker!.transferred(peer, block.length);
    const picker = this.picker!;
    const got = picker.received(peer, o.req);
    if (!got.useful) drop();
    else {
      this.strikes.sent(piece, peer.id);
      const size = picker.pieceBytes(piece);
      if (begin === 0 && block.length === size) this.assembling.set(piece, { bytes: block, owner });
      else {
        // Smaller blocks (a standard client's 16 KiB) are gathered in a piece buffer.
        let a = this.assembling.get(piece);
        if (!a) {
          const buf = this.init.pool.acquire(size);
          a = { bytes: buf, owner: buf };
          this.assembling.set(piece, a);
        }
        block.copy(a.bytes, begin);
        drop();
      }
      for (const c of got.cancels) {
        const other = c.peer.outstanding.get(key(c.request.piece, c.request.begin));
        if (other) {
          c.peer.outstanding.delete(key(c.request.piece, c.request.begin));
          this.inFlightBytes -= other.req.length;
          c.peer.pipeline.dropped();
        }
        c.peer.wire.cancel(c.request.piece, c.request.begin, c.request.length);
      }
      if (got.pieceComplete) this.pieceComplete(piece);
    }
    this.fill(peer);
    this.fillAll();
  }

  private pieceComplete(piece: number): void {
    const { bytes, owner } = this.assembling.get(piece)!;
    this.assembling.delete(piece);
    const picker = this.picker!;
    if (!this.file!.matches(piece, bytes)) {
      if (owner) this.init.pool.release(owner);
      picker.failed(piece);
      const ban = this.strikes.failed(piece);
      this.emit("warning", `piece ${piece} failed verification`);
      for (const id of ban) {
        const p = this.byId.get(id);
        this.init.log.warn("peer sent data that fails the piece hashes: disconnected and banned", {
          torrent: this.infoHash,
          piece,
          peer: p ? `${p.wire.remoteAddress}:${p.wire.remotePort}` : id,
        });
        p?.wire.close("banned: sent data that failed the piece hashes");
      }
      return;
    }
    this.strikes.verified(piece);
    // Held by the recent pieces and by the write until both let go.
    const held: HeldPiece = { bytes, owner, refs: 1 };
    this.remember(piece, held);
    for (const p of picker.verified(piece)) p.wire.interested(false);
    // Announced at once and served from memory from now on; the disk write follows.
    for (const p of this.peers) if (p.admitted) p.wire.have(piece);
    this.pendingWrites++;
    this.file!.writePiece(piece, bytes).then(
      () => {
        this.pendingWrites--;
        this.letGo(held);
        this.checkDone();
      },
      (err: Error) => {
        this.pendingWrites--;
        this.letGo(held);
        this.fail(new Error(`cannot write piece ${piece}: ${err.message}`));
      },
    );
  }

  private checkDone(): void {
    if (this.done || this.destroyed || !this.picker?.complete() || this.pendingWrites > 0) return;
    this.done = true;
    const now = performance.now();
    this.choker!.becomeSeed(now);
    for (const p of this.peers) {
      p.wire.interested(false);
      for (const o of [...p.outstanding.values()]) {
        p.wire.cancel(o.req.piece, o.req.begin, o.req.length);
        this.release(p, o);
      }
    }
    this.announcer?.completed();
    this.emit("done");
  }

  private fail(err: Error): void {
    if (this.destroyed) return;
    this.emit("error", err);
  }

  private tick(): void {
    const now = performance.now();
    const secs = (now - this.rateSample.at) / 1000;
    if (secs > 0) {
      const down = (this.downloaded - this.rateSample.down) / secs;
      const up = (this.uploaded - this.rateSample.up) / secs;
      this.downloadSpeed = this.downloadSpeed > 0 ? (this.downloadSpeed + down) / 2 : down;
      this.uploadSpeed = this.uploadSpeed > 0 ? (this.uploadSpeed + up) / 2 : up;
      this.rateSample = { at: now, down: this.downloaded, up: this.uploaded };
    }
    // Requests unanswered past their time go to other peers.
    let released = false;
    for (const peer of this.peers) {
      const limit = peer.pipeline.timeoutMs();
      for (const o of [...peer.outstanding.values()]) {
        if (now - o.sentAt < limit) continue;
        peer.wire.cancel(o.req.piece, o.req.begin, o.req.length);
        this.release(peer, o);
        released = true;
      }
    }
    if (released) this.fillAll();
    // Rechoke: every 10 s while downloading (tit-for-tat), every 2 s as a seed (turns).
    const rechokeMs = this.choker!.role() === "seed" ? 2_000 : 10_000;
    if (now - this.lastRechoke >= rechokeMs) {
      this.lastRechoke = now;
      this.applyChokes(this.choker!.tick(now));
      if (this.superSeeder) for (const p of this.peers) if (p.admitted) this.offer(p);
    }
  }

  /** Stops: every connection closed, the trackers told, the file closed (and kept). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    clearInterval(this.ticker);
    clearTimeout(this.fillTimer);
    this.announcer?.stop();
    for (const p of [...this.peers]) p.wire.close("the torrent was removed");
    this.peers.clear();
    this.recent.clear();
    this.assembling.clear();
    await this.file?.close();
  }
}
