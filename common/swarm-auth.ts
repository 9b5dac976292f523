// Peer authentication of the private swarm: a peer gets no piece before it proved that it
// holds the cluster's swarm key, which the master hands to registered agents only.
//
// The proof travels in a BEP 10 extension, `yard_auth`. Each side puts a fresh random nonce in
// its extended handshake; once it has the other's, it sends
//   HMAC-SHA256(swarm key, label | info hash | own peer id | other's peer id | own nonce | other's nonce)
// and checks the one it receives with the roles swapped. The other's nonce is new for this
// connection, so a proof seen on one connection is worth nothing on another. Until a peer's
// proof checks out, its requests are dropped and it stays choked (webtorrent's unchoke is held
// back and given once it is verified); a peer whose proof is wrong, or that does not speak
// the extension, is disconnected, and so is one that has not proved anything after
// `timeoutMs`. A peer admitted by `admitWithoutProof` (an operator's grant, on the master's
// seed) skips the proof.
//
// The cost is one HMAC per connection, none per piece: the hot path of a fetch is unchanged.
// It hooks webtorrent 2.8 / bittorrent-protocol 4 internals (Wire#_onRequest, Wire#unchoke,
// Wire#use); the versions are pinned.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Logger } from "./logger.js";

export const SWARM_AUTH_EXTENSION = "yard_auth";
const NONCE_KEY = "yard_nonce";
const NONCE_BYTES = 16;
const LABEL = "yard private swarm v1";

export interface ProofSide {
  peerId: string;
  nonce: Uint8Array;
}

/** The proof that `prover` holds `key`, for a connection with `verifier` on torrent `infoHash`. */
export function swarmProof(
  key: Uint8Array,
  infoHash: string,
  prover: ProofSide,
  verifier: ProofSide,
): Buffer {
  const mac = createHmac("sha256", key);
  for (const part of [LABEL, infoHash, prover.peerId, verifier.peerId]) mac.update(`${part}\n`);
  mac.update(prover.nonce);
  mac.update(verifier.nonce);
  return mac.digest();
}

/** The parts of a bittorrent-protocol wire that the authentication touches. */
export interface AuthWire {
  peerId: string;
  remoteAddress?: string;
  destroyed: boolean;
  extendedHandshake: Record<string, unknown>;
  peerExtendedMapping: Record<string, number>;
  unchoke(): void;
  _onRequest(index: number, offset: number, length: number): void;
  use(ext: unknown): void;
  extended(ext: string, msg: Uint8Array): void;
  destroy(): void;
  on(event: "extended", cb: (ext: string, msg: unknown) => void): void;
  on(event: "close", cb: () => void): void;
}

export interface AuthTorrent {
  infoHash: string;
  on(event: "wire", cb: (wire: AuthWire) => void): void;
}

export interface SwarmAuthOptions {
  /** The cluster's swarm key; undefined while not known (an agent not yet registered): peers are refused. */
  key: () => Uint8Array | undefined;
  /** This client's peer id (hex). */
  peerId: string;
  /** A peer let in without a proof (an outside client with a grant), by its address. */
  admitWithoutProof?: (remoteAddress: string, infoHash: string) => boolean;
  /** How long a peer has to prove membership (default 5 s). */
  timeoutMs?: number;
  log: Logger;
}

export interface SwarmAuthCounts {
  verified: number;
  granted: number;
  refused: number;
}

export class SwarmAuth {
  readonly counts: SwarmAuthCounts = { verified: 0, granted: 0, refused: 0 };

  constructor(private readonly opts: SwarmAuthOptions) {}

  /**
   * Guards every wire of `torrent`. Attach it before anything else that wraps a wire's unchoke
   * (the seed's choker), so that whatever unchokes goes through the guard.
   */
  attach(torrent: AuthTorrent): void {
    torrent.on("wire", (wire) => this.guard(wire, torrent.infoHash));
  }

  private guard(wire: AuthWire, infoHash: string): void {
    const nonce = randomBytes(NONCE_BYTES);
    let verified = false;
    let unchokeWanted = false;
    const unchoke = wire.unchoke.bind(wire);
    const onRequest = wire._onRequest.bind(wire);
    wire.unchoke = () => {
      if (verified) unchoke();
      else unchokeWanted = true;
    };
    wire._onRequest = (index, offset, length) => {
      if (verified) onRequest(index, offset, length);
    };
    // On a busy host the event loop can stall past the deadline with the proof already in the
    // socket's buffer; timers run before I/O is read, so the verdict waits one turn (setImmediate
    // runs after the poll phase) to let a proof that did arrive in time be read first.
    const timer = setTimeout(
      () => setImmediate(() => refuse("proved nothing in time")),
      this.opts.timeoutMs ?? 5000,
    );
    timer.unref();
    wire.on("close", () => clearTimeout(timer));

    const admit = (how: "verified" | "granted") => {
      if (verified || wire.destroyed) return;
      verified = true;
      clearTimeout(timer);
      this.counts[how]++;
      if (unchokeWanted) unchoke();
    };
    const refuse = (why: string) => {
      if (verified || wire.destroyed) return;
      clearTimeout(timer);
      this.counts.refused++;
      this.opts.log.debug("swarm peer refused", { torrent: infoHash, peer: wire.remoteAddress, why });
      wire.destroy();
    };

    if (wire.remoteAddress && this.opts.admitWithoutProof?.(wire.remoteAddress, infoHash)) {
      admit("granted");
      return;
    }
    let peerNonce: Uint8Array | undefined;
    const ownId = this.opts.peerId;
    const key = this.opts.key;
    class YardAuth {
      constructor(w: AuthWire) {
        w.extendedHandshake[NONCE_KEY] = nonce;
      }
      onExtendedHandshake(handshake: Record<string, unknown>): void {
        const n = handshake[NONCE_KEY];
        const k = key();
        if (!(n instanceof Uint8Array) || n.length !== NONCE_BYTES) {
          refuse("no nonce in its handshake");
          return;
        }
        if (!k) {
          refuse("the swarm key is not known yet");
          return;
        }
        peerNonce = n;
        wire.extended(
          SWARM_AUTH_EXTENSION,
          swarmProof(k, infoHash, { peerId: ownId, nonce }, { peerId: wire.peerId, nonce: n }),
        );
      }
      onMessage(buf: Uint8Array): void {
        const k = key();
        if (!peerNonce || !k) {
          refuse("a proof before the handshake");
          return;
        }
        const want = swarmProof(
          k,
          infoHash,
          { peerId: wire.peerId, nonce: peerNonce },
          { peerId: ownId, nonce },
        );
        if (buf.length === want.length && timingSafeEqual(buf, want)) admit("verified");
        else refuse("wrong proof");
      }
    }
    (YardAuth.prototype as unknown as { name: string }).name = SWARM_AUTH_EXTENSION;
    wire.use(YardAuth);
    // A peer whose extended handshake lacks the extension is not a member.
    wire.on("extended", (ext) => {
      if (ext === "handshake" && !wire.peerExtendedMapping[SWARM_AUTH_EXTENSION]) refuse("no yard_auth");
    });
  }
}
