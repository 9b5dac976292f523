// Peer authentication of the private swarm: a peer gets no piece before it proved that it
// holds the cluster's swarm key, which the master hands to registered agents only.
//
// The proof travels in a BEP 10 extension, `yard_auth`. Each side puts a fresh random nonce in
// its extended handshake; once it has the other's, it sends
//   HMAC-SHA256(swarm key, label | info hash | own peer id | other's peer id | own nonce | other's nonce)
// and checks the one it receives with the roles swapped. The other's nonce is new for this
// connection, so a proof seen on one connection is worth nothing on another. Until a peer's
// proof checks out, it is not admitted: its bitfield does not count, its requests are refused
// and it stays choked; a peer whose proof is wrong, or that does not speak the extension, is
// disconnected, and so is one that has not proved anything after the engine's timeout. A peer
// that an operator's grant lets in (on the master's seed) skips the proof. The swarm engine
// runs the exchange (swarm/torrent-session.ts); this file is the proof itself.
//
// The cost is one HMAC per connection, none per piece.
import { createHmac } from "node:crypto";

export const SWARM_AUTH_EXTENSION = "yard_auth";
export const SWARM_NONCE_KEY = "yard_nonce";
export const SWARM_NONCE_BYTES = 16;
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
