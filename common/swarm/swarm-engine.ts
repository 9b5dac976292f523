// Yard's BitTorrent engine: one per process (an agent's fetcher, the master's seeder). It owns
// the peer listener and the connections, and runs one TorrentSession per torrent
// (torrent-session.ts), which drives the swarm core (piece-picker, choker, super-seeder,
// request-pipeline). BitTorrent v1 over TCP only: no DHT, no local peer discovery, no uTP,
// no web seeds, no peer exchange, no NAT traversal; peers are found through the trackers of
// each torrent (the masters'). It speaks the standard peer wire, so a stock client with a grant
// fetches from the master's seed; between Yard peers blocks are whole pieces (BEP 10
// negotiation, request-pipeline.ts). The choice and the figures: docs/releases.md.
import { randomBytes } from "node:crypto";
import net from "node:net";
import https from "node:https";
import type { Logger } from "../logger.js";
import type { TlsMaterial } from "../tls.js";
import { SWARM_AUTH_EXTENSION } from "../swarm-auth.js";
import { decodeHandshake, encodeHandshake, HANDSHAKE_BYTES, type Handshake, PeerWire } from "./peer-wire.js";
import { BufferPool } from "./buffer-pool.js";
import { TokenBucket } from "./token-bucket.js";
import { type TorrentMeta, TorrentSession } from "./torrent-session.js";
import type { PeerAddress } from "./tracker-announcer.js";

/** The largest block served to (and asked of) a Yard peer: a whole piece up to this size. */
export const YARD_MAX_BLOCK_BYTES = 4 * 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 10_000;
const DIAL_TIMEOUT_MS = 5_000;
/** Our extension ids (BEP 10 "m"). */
const EXTENSIONS = { [SWARM_AUTH_EXTENSION]: 1 };

export interface SwarmEngineOptions {
  /** Peer listen port; 0 = a free one. */
  peerPort?: number;
  /** Address the peer listener binds to (and dials from); all interfaces when unset. */
  listenHost?: string;
  /** Bytes per second; undefined or <= 0 = unlimited. */
  uploadLimit?: number;
  downloadLimit?: number;
  /** Connections per torrent (default 55). */
  maxConns?: number;
  /** Upload slots per torrent (default 4; choker.ts). */
  uploadSlots?: number;
  /** Seed role: longest turn of a peer while others wait (default 10 s). */
  turnMs?: number;
  /** The cluster's TLS material for announces to HTTPS trackers; null or unset: HTTP only. */
  tls?: TlsMaterial | null;
  /** Extra parameters of every announce (the passkey), read at each announce. */
  announceParams?: () => Record<string, string>;
  /** The private swarm's key (common/swarm-auth.ts); undefined: no peer is admitted. */
  swarmKey: () => Uint8Array | undefined;
  /** Lets a peer in without a proof (an operator's grant), by its address. */
  admitWithoutProof?: (remoteAddress: string, infoHash: string) => boolean;
  /** How long a peer has to prove membership (default 5 s). */
  authTimeoutMs?: number;
  log: Logger;
}

export interface AddTorrentOptions {
  /** The directory that holds (or will hold) the torrent's file. */
  path: string;
  /** Take the file as complete without hashing it (it was verified when stored). */
  skipVerify?: boolean;
  /** Offer pieces one at a time to each peer (BEP 16): for the master's seed. */
  superSeed?: boolean;
}

type ParseTorrent = (torrent: Uint8Array) => Promise<TorrentMeta>;
let parseTorrent: ParseTorrent | undefined;

async function parse(torrent: Uint8Array): Promise<TorrentMeta> {
  if (!parseTorrent) {
    // A computed specifier keeps the compiler from looking for types the package lacks.
    const name = "parse-torrent";
    parseTorrent = ((await import(name)) as { default: ParseTorrent }).default;
  }
  return parseTorrent(torrent);
}

/**
 * Where a connection's bytes go. Every connection reads into one buffer of its own, reused
 * read after read (the socket's `onread` mode), instead of a fresh buffer per read: on the
 * distribution benchmark the page faults of those fresh buffers were a tenth of all CPU. The
 * bytes handed to `sink` are a view of that buffer, valid during the call only.
 */
const READ_BUFFER_BYTES = 64 * 1024;

class Inbox {
  sink: (bytes: Buffer) => void = () => undefined;
  // A buffer, not a function: Node calls a function for a new buffer at every read.
  readonly onread = {
    buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
    callback: (n: number, buf: Uint8Array): boolean => {
      this.sink(Buffer.from(buf.buffer, buf.byteOffset, n));
      return true;
    },
  };
}

/** Reads the 68-byte handshake; resolves it with the bytes that came after it. */
function readHandshake(socket: net.Socket, inbox: Inbox): Promise<{ hs: Handshake; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let got: Buffer = Buffer.alloc(0);
    let hs: Handshake | undefined;
    const timer = setTimeout(() => done(new Error("no handshake in time")), HANDSHAKE_TIMEOUT_MS);
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off("close", onClose);
      socket.off("error", onError);
      if (err) reject(err);
      else resolve({ hs: hs!, rest: got.subarray(HANDSHAKE_BYTES) });
    };
    inbox.sink = (d) => {
      // Copied: the read buffer is reused. Bytes after the handshake that come before the
      // wire takes over join `rest` (the promise settles before the next read).
      got = Buffer.concat([got, d]);
      if (hs || got.length < HANDSHAKE_BYTES) return;
      const parsed = decodeHandshake(got);
      if (typeof parsed === "string") return done(new Error(parsed));
      hs = parsed;
      done();
    };
    const onClose = () => done(new Error("closed during the handshake"));
    const onError = (err: Error) => done(err);
    socket.on("close", onClose);
    socket.on("error", onError);
  });
}

export class SwarmEngine {
  readonly peerId: string;
  readonly authCounts = { verified: 0, granted: 0, refused: 0 };
  private readonly peerIdBytes: Buffer;
  private readonly sessions = new Map<string, TorrentSession>();
  private readonly upload: TokenBucket;
  private readonly download: TokenBucket;
  private readonly sockets = new Set<net.Socket>();
  private readonly pool = new BufferPool();
  private destroyed = false;

  private constructor(
    private readonly opts: SwarmEngineOptions,
    private readonly server: net.Server,
    private readonly httpsAgent: https.Agent | undefined,
  ) {
    // Azureus-style peer id: client "YD", version 0100, then random bytes.
    this.peerIdBytes = Buffer.concat([Buffer.from("-YD0100-"), randomBytes(12)]);
    this.peerId = this.peerIdBytes.toString("hex");
    this.upload = new TokenBucket(opts.uploadLimit ?? 0);
    this.download = new TokenBucket(opts.downloadLimit ?? 0);
    server.on("connection", (s) => this.incoming(s));
    // Connections arrive paused: `incoming` moves each to a socket that reads into its own buffer.
  }

  /** Creates an engine and resolves once its peer listener is bound. */
  static async create(opts: SwarmEngineOptions): Promise<SwarmEngine> {
    // Announces to the masters' HTTPS trackers trust the cluster CA and present this host's
    // certificate; nothing else is trusted through this agent.
    const httpsAgent = opts.tls
      ? new https.Agent({ keepAlive: true, ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key })
      : undefined;
    const server = net.createServer({ noDelay: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.peerPort ?? 0, opts.listenHost, () => {
        server.off("error", reject);
        resolve();
      });
    });
    return new SwarmEngine(opts, server, httpsAgent);
  }

  address(): { address: string; port: number } | null {
    const a = this.server.address();
    return a && typeof a === "object" ? { address: a.address, port: a.port } : null;
  }

  get torrents(): TorrentSession[] {
    return [...this.sessions.values()];
  }

  get(infoHash: string): TorrentSession | undefined {
    return this.sessions.get(infoHash);
  }

  /**
   * Adds a torrent and resolves once its file is open and checked (`done` tells whether it
   * is complete). A torrent already added is returned as it is.
   */
  async add(torrent: Uint8Array, opts: AddTorrentOptions): Promise<TorrentSession> {
    if (this.destroyed) throw new Error("the swarm engine is stopped");
    const meta = await parse(torrent);
    const existing = this.sessions.get(meta.infoHash);
    if (existing) return existing;
    const session = new TorrentSession({
      meta,
      dir: opts.path,
      skipVerify: opts.skipVerify ?? false,
      superSeed: opts.superSeed ?? false,
      peerId: this.peerId,
      auth: {
        key: this.opts.swarmKey,
        admitWithoutProof: this.opts.admitWithoutProof,
        timeoutMs: this.opts.authTimeoutMs ?? 5000,
        counts: this.authCounts,
      },
      upload: this.upload,
      download: this.download,
      pool: this.pool,
      maxBlockBytes: YARD_MAX_BLOCK_BYTES,
      uploadSlots: this.opts.uploadSlots ?? 4,
      turnMs: this.opts.turnMs ?? 10_000,
      maxConns: this.opts.maxConns ?? 55,
      listenPort: () => this.address()?.port ?? 0,
      announceParams: this.opts.announceParams,
      httpsAgent: this.httpsAgent,
      dial: (a, s) => this.dial(a, s),
      log: this.opts.log,
    });
    this.sessions.set(meta.infoHash, session);
    try {
      await session.start();
    } catch (err) {
      this.sessions.delete(meta.infoHash);
      await session.destroy();
      throw err;
    }
    return session;
  }

  /** Stops a torrent; its file stays. */
  async remove(infoHash: string): Promise<void> {
    const s = this.sessions.get(infoHash);
    if (!s) return;
    this.sessions.delete(infoHash);
    await s.destroy();
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([...this.sessions.values()].map((s) => s.destroy()));
    this.sessions.clear();
    for (const s of this.sockets) s.destroy();
    this.httpsAgent?.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    socket.setNoDelay(true);
  }

  private incoming(accepted: net.Socket): void {
    if (this.destroyed) {
      accepted.destroy();
      return;
    }
    // The accepted socket's handle, taken over by a socket in onread mode (Inbox).
    const inbox = new Inbox();
    // The old socket lets go of the handle first (so that it never closes it) and ends: the
    // server counts it closed, and the new socket is ours to close (`destroy`).
    const owner = accepted as unknown as { _handle: unknown };
    const handle = owner._handle;
    owner._handle = null;
    accepted.destroy();
    const socket = new net.Socket({
      handle,
      readable: true,
      writable: true,
      onread: inbox.onread,
    } as net.SocketConstructorOpts);
    this.track(socket);
    socket.resume();
    readHandshake(socket, inbox).then(
      ({ hs, rest }) => {
        const session = this.sessions.get(hs.infoHash);
        if (!session?.ready || session.destroyed) {
          socket.destroy();
          return;
        }
        socket.write(encodeHandshake(Buffer.from(hs.infoHash, "hex"), this.peerIdBytes));
        session.attach(this.wire(socket, inbox, hs, rest), false);
      },
      () => socket.destroy(),
    );
  }

  private dial(a: PeerAddress, session: TorrentSession): void {
    const inbox = new Inbox();
    const socket = net.connect({
      host: a.host,
      port: a.port,
      onread: inbox.onread,
      ...(this.opts.listenHost ? { localAddress: this.opts.listenHost } : {}),
    });
    this.track(socket);
    const timer = setTimeout(() => socket.destroy(), DIAL_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.write(encodeHandshake(Buffer.from(session.infoHash, "hex"), this.peerIdBytes));
    });
    readHandshake(socket, inbox).then(
      ({ hs, rest }) => {
        session.dialed(a);
        if (hs.infoHash !== session.infoHash || session.destroyed) {
          socket.destroy();
          return;
        }
        session.attach(this.wire(socket, inbox, hs, rest), true);
      },
      () => {
        clearTimeout(timer);
        session.dialed(a);
        socket.destroy();
      },
    );
  }

  private wire(socket: net.Socket, inbox: Inbox, hs: Handshake, rest: Buffer): PeerWire {
    // Until the session starts the wire, bytes wait here (copied), then go to it.
    const early: Buffer[] = [rest];
    inbox.sink = (d) => early.push(Buffer.from(d));
    const wire = new PeerWire({
      socket,
      remote: hs,
      maxBlockBytes: YARD_MAX_BLOCK_BYTES,
      extensions: EXTENSIONS,
      pool: this.pool,
      onStart: () => {
        inbox.sink = (d) => wire.receive(d);
        return Buffer.concat(early);
      },
    });
    return wire;
  }
}
