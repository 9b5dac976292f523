// One BitTorrent peer connection (BEP 3), with the extension protocol (BEP 10) and the fast
// extension (BEP 6), framed directly on a TCP socket.
//
// Why not bittorrent-protocol: its parser concatenates everything buffered at every socket
// read, which is quadratic in the message size; with whole-piece blocks between Yard peers
// (1 MiB and more) that is ~8 copies of each piece. Here a message that spans reads is copied
// once into a buffer of its own size, and one that lies in a single read is a view of it.
//
// The wire only frames and parses: it keeps the four choke/interest flags of BEP 3 and hands
// every message to its handler; what to request, whom to unchoke and what to serve is the
// torrent session's (torrent-session.ts). A peer's malformed message closes this connection
// with a reason, never the process.
import type net from "node:net";
import { bdecode, bencode } from "./bencode.js";
import type { BufferPool } from "./buffer-pool.js";

const PROTOCOL = Buffer.from("\x13BitTorrent protocol", "latin1");
export const HANDSHAKE_BYTES = 68;
/** Reserved bit 0x10 of byte 5: the extension protocol (BEP 10). */
const EXTENSION_BIT = { byte: 5, mask: 0x10 };
/** Reserved bit 0x04 of byte 7: the fast extension (BEP 6). */
const FAST_BIT = { byte: 7, mask: 0x04 };

const MSG = {
  choke: 0,
  unchoke: 1,
  interested: 2,
  notInterested: 3,
  have: 4,
  bitfield: 5,
  request: 6,
  piece: 7,
  cancel: 8,
  port: 9,
  suggest: 13,
  haveAll: 14,
  haveNone: 15,
  reject: 16,
  allowedFast: 17,
  extended: 20,
} as const;

export interface Handshake {
  infoHash: string;
  peerId: string;
  extensions: boolean;
  fast: boolean;
}

export interface WireHandler {
  choke(): void;
  unchoke(): void;
  interested(yes: boolean): void;
  have(piece: number): void;
  bitfield(bytes: Uint8Array): void;
  haveAll(): void;
  haveNone(): void;
  request(piece: number, begin: number, length: number): void;
  /**
   * A block. `owner` is the pooled buffer that holds it: the handler gives it back to the
   * pool once nothing uses the block any more.
   */
  piece(piece: number, begin: number, block: Buffer, owner: Buffer): void;
  cancel(piece: number, begin: number, length: number): void;
  reject(piece: number, begin: number, length: number): void;
  /** The peer's extended handshake (BEP 10), decoded. */
  extendedHandshake(dict: Record<string, unknown>): void;
  /** An extension message, by the name we registered its id under. */
  extended(name: string, payload: Buffer): void;
  closed(reason: string): void;
}

export function encodeHandshake(infoHash: Buffer, peerId: Buffer): Buffer {
  const b = Buffer.alloc(HANDSHAKE_BYTES);
  PROTOCOL.copy(b, 0);
  b[20 + EXTENSION_BIT.byte] = EXTENSION_BIT.mask;
  b[20 + FAST_BIT.byte] = FAST_BIT.mask;
  infoHash.copy(b, 28);
  peerId.copy(b, 48);
  return b;
}

/** Parses a handshake, or returns why it is not one. */
export function decodeHandshake(b: Buffer): Handshake | string {
  if (b.length < HANDSHAKE_BYTES || !b.subarray(0, 20).equals(PROTOCOL)) return "not a BitTorrent handshake";
  return {
    infoHash: b.toString("hex", 28, 48),
    peerId: b.toString("hex", 48, 68),
    extensions: (b[20 + EXTENSION_BIT.byte]! & EXTENSION_BIT.mask) !== 0,
    fast: (b[20 + FAST_BIT.byte]! & FAST_BIT.mask) !== 0,
  };
}

export interface PeerWireInit {
  socket: net.Socket;
  /**
   * Called as the wire starts reading: connects the socket's bytes to `receive` and returns
   * those that came after the handshake meanwhile.
   */
  onStart: () => Buffer;
  remote: Handshake;
  /** The largest message accepted: a block of at most this plus its header. */
  maxBlockBytes: number;
  /** Extension messages we accept, name -> our id (BEP 10 "m"). */
  extensions: Record<string, number>;
  /** Where the buffers of blocks, and of messages larger than one read, come from. */
  pool: BufferPool;
}

export class PeerWire {
  readonly socket: net.Socket;
  readonly peerId: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Both sides speak the fast extension: rejects instead of silent drops, have-all/none. */
  readonly fast: boolean;
  amChoking = true;
  amInterested = false;
  peerChoking = true;
  peerInterested = false;
  /** The peer's extension ids (their "m"), once its extended handshake came. */
  peerExtensions: Record<string, number> = {};
  closed = false;

  private handler: WireHandler | undefined;
  private readonly ourIds = new Map<number, string>();
  private readonly maxMessage: number;
  /** Bytes received and not yet parsed. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** A message larger than the reads it arrives in, being filled. */
  private partial: { buf: Buffer; filled: number } | undefined;
  private keepAlive: NodeJS.Timeout | undefined;

  constructor(private readonly init: PeerWireInit) {
    this.socket = init.socket;
    this.peerId = init.remote.peerId;
    this.remoteAddress = init.socket.remoteAddress ?? "";
    this.remotePort = init.socket.remotePort ?? 0;
    this.fast = init.remote.fast;
    this.maxMessage = init.maxBlockBytes + 13;
    for (const [name, id] of Object.entries(init.extensions)) this.ourIds.set(id, name);
  }

  /** Starts reading; every message goes to `handler`. */
  start(handler: WireHandler): void {
    this.handler = handler;
    this.socket.on("close", () => this.close("connection closed"));
    this.socket.on("error", (err) => this.close(err.message));
    // The engine delivers the bytes (`receive`); it paused the socket after the handshake.
    this.socket.resume();
    // BEP 3: a keep-alive every two minutes at most keeps idle connections open.
    this.keepAlive = setInterval(() => this.send(Buffer.alloc(4)), 60_000);
    this.keepAlive.unref();
    const early = this.init.onStart();
    if (early.length > 0) this.receive(early);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAlive);
    this.socket.destroy();
    this.handler?.closed(reason);
  }

  // Outgoing messages.

  choke(): void {
    if (this.amChoking) return;
    this.amChoking = true;
    this.message(MSG.choke);
  }

  unchoke(): void {
    if (!this.amChoking) return;
    this.amChoking = false;
    this.message(MSG.unchoke);
  }

  interested(yes: boolean): void {
    if (this.amInterested === yes) return;
    this.amInterested = yes;
    this.message(yes ? MSG.interested : MSG.notInterested);
  }

  have(piece: number): void {
    this.message(MSG.have, piece);
  }

  bitfield(bytes: Uint8Array): void {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(1 + bytes.length, 0);
    head[4] = MSG.bitfield;
    this.send(Buffer.concat([head, bytes]));
  }

  haveNone(): void {
    if (this.fast) this.message(MSG.haveNone);
  }

  request(piece: number, begin: number, length: number): void {
    this.message(MSG.request, piece, begin, length);
  }

  cancel(piece: number, begin: number, length: number): void {
    this.message(MSG.cancel, piece, begin, length);
  }

  reject(piece: number, begin: number, length: number): void {
    if (this.fast) this.message(MSG.reject, piece, begin, length);
  }

  /**
   * Sends a block; resolves once the kernel took all of it (the write's callback), so that the
   * caller may pace the next block on it and reuse the block's buffer.
   */
  piece(piece: number, begin: number, block: Uint8Array): Promise<void> {
    const head = Buffer.alloc(13);
    head.writeUInt32BE(9 + block.length, 0);
    head[4] = MSG.piece;
    head.writeUInt32BE(piece, 5);
    head.writeUInt32BE(begin, 9);
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.cork();
      this.socket.write(head);
      // An error or a close also calls back: the buffer is free either way.
      this.socket.write(block, () => resolve());
      this.socket.uncork();
    });
  }

  extendedHandshake(dict: Record<string, unknown>): void {
    this.extendedMessage(0, bencode({ m: this.init.extensions, ...dict }));
  }

  /** Sends extension `name` if the peer registered it; false when it did not. */
  extended(name: string, payload: Uint8Array): boolean {
    const id = this.peerExtensions[name];
    if (!id) return false;
    this.extendedMessage(id, payload);
    return true;
  }

  private extendedMessage(id: number, payload: Uint8Array): void {
    const head = Buffer.alloc(6);
    head.writeUInt32BE(2 + payload.length, 0);
    head[4] = MSG.extended;
    head[5] = id;
    this.send(Buffer.concat([head, payload]));
  }

  private message(id: number, ...numbers: number[]): void {
    const b = Buffer.alloc(5 + 4 * numbers.length);
    b.writeUInt32BE(1 + 4 * numbers.length, 0);
    b[4] = id;
    for (let i = 0; i < numbers.length; i++) b.writeUInt32BE(numbers[i]!, 5 + 4 * i);
    this.send(b);
  }

  private send(b: Buffer): void {
    if (!this.closed) this.socket.write(b);
  }

  // Incoming bytes.

  /**
   * Bytes from the socket. `data` may be a view of the socket's read buffer, reused after this
   * call (the engine reads into one buffer per connection instead of a new one per read):
   * whatever is kept past this call is copied.
   */
  receive(data: Buffer): void {
    this.parse(data);
    if (this.chunks.length > 0) this.chunks = [Buffer.concat(this.chunks)];
  }

  private parse(data: Buffer): void {
    let d = data;
    while (d.length > 0 && !this.closed) {
      if (this.partial) {
        const p = this.partial;
        const n = Math.min(d.length, p.buf.length - p.filled);
        d.copy(p.buf, p.filled, 0, n);
        p.filled += n;
        d = d.subarray(n);
        if (p.filled < p.buf.length) return;
        this.partial = undefined;
        this.dispatch(p.buf, p.buf);
        continue;
      }
      this.chunks.push(d);
      this.buffered += d.length;
      d = Buffer.alloc(0);
      this.drain();
    }
  }

  /** Parses every whole message buffered; starts a partial one for a message that is not. */
  private drain(): void {
    while (!this.closed && this.buffered >= 4) {
      const head = this.peek(4);
      const length = head.readUInt32BE(0);
      if (length > this.maxMessage) {
        this.close(`a message of ${length} bytes, more than the largest block (${this.maxMessage - 13})`);
        return;
      }
      if (this.buffered >= 4 + length) {
        this.take(4);
        if (length > 0) this.dispatch(this.take(length));
        continue;
      }
      // Not all here: copy what is into a buffer of the message's size and fill it as it comes.
      this.take(4);
      const buf = this.init.pool.acquire(length);
      let filled = 0;
      for (const c of this.chunks) {
        c.copy(buf, filled);
        filled += c.length;
      }
      this.chunks = [];
      this.buffered = 0;
      this.partial = { buf, filled };
      return;
    }
  }

  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first;
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    const first = this.peek(n);
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }

  private dispatch(m: Buffer, owner?: Buffer): void {
    if (m[0] === MSG.piece && m.length >= 9) {
      // The block outlives this call: a view of the read buffer is copied into a pooled one.
      let own = owner;
      if (!own) {
        own = this.init.pool.acquire(m.length);
        m.copy(own);
      }
      this.handler!.piece(own.readUInt32BE(1), own.readUInt32BE(5), own.subarray(9), own);
      return;
    }
    this.handle(m);
    if (owner) this.init.pool.release(owner);
  }

  private handle(m: Buffer): void {
    const h = this.handler!;
    const id = m[0]!;
    const need = (bytes: number) => {
      if (m.length === bytes) return true;
      this.close(`message ${id} of ${m.length} bytes, expected ${bytes}`);
      return false;
    };
    switch (id) {
      case MSG.choke:
        if (!need(1)) return;
        this.peerChoking = true;
        h.choke();
        return;
      case MSG.unchoke:
        if (!need(1)) return;
        this.peerChoking = false;
        h.unchoke();
        return;
      case MSG.interested:
      case MSG.notInterested:
        if (!need(1)) return;
        this.peerInterested = id === MSG.interested;
        h.interested(this.peerInterested);
        return;
      case MSG.have:
        if (need(5)) h.have(m.readUInt32BE(1));
        return;
      case MSG.bitfield:
        h.bitfield(m.subarray(1));
        return;
      case MSG.request:
      case MSG.cancel:
      case MSG.reject: {
        if (!need(13)) return;
        const args = [m.readUInt32BE(1), m.readUInt32BE(5), m.readUInt32BE(9)] as const;
        if (id === MSG.request) h.request(...args);
        else if (id === MSG.cancel) h.cancel(...args);
        else h.reject(...args);
        return;
      }
      case MSG.piece:
        // A whole one went to the handler in `dispatch`.
        this.close("a piece message without its header");
        return;
      case MSG.haveAll:
        if (need(1)) h.haveAll();
        return;
      case MSG.haveNone:
        if (need(1)) h.haveNone();
        return;
      case MSG.extended:
        this.onExtended(m);
        return;
      default:
        // port (DHT), suggest, allowed fast and anything newer: not used here, ignored.
        return;
    }
  }

  private onExtended(m: Buffer): void {
    if (m.length < 2) {
      this.close("an extended message without its id");
      return;
    }
    const ext = m[1]!;
    const payload = m.subarray(2);
    if (ext === 0) {
      let dict: unknown;
      try {
        dict = bdecode(payload);
      } catch (err) {
        this.close(`an extended handshake that is not bencoded: ${(err as Error).message}`);
        return;
      }
      if (typeof dict !== "object" || dict === null || Array.isArray(dict) || dict instanceof Uint8Array) {
        this.close("an extended handshake that is not a dictionary");
        return;
      }
      const d = dict as Record<string, unknown>;
      const ids: Record<string, number> = {};
      const map = d.m;
      if (map && typeof map === "object" && !(map instanceof Uint8Array)) {
        for (const [name, v] of Object.entries(map as Record<string, unknown>)) {
          if (typeof v === "number" && Number.isInteger(v) && v > 0 && v < 256) ids[name] = v;
        }
      }
      this.peerExtensions = ids;
      this.handler!.extendedHandshake(d);
      return;
    }
    const name = this.ourIds.get(ext);
    if (name) this.handler!.extended(name, payload);
  }
}
