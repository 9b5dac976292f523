// The private swarm's handshake proof: bound to the key, the torrent, both peer ids and both
// nonces, so that a proof from one connection is worth nothing on another.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { swarmProof } from "../../common/swarm-auth.js";

describe("swarm proof", () => {
  const key = randomBytes(32);
  const hash = "cd".repeat(20);
  const a = { peerId: "aa".repeat(20), nonce: randomBytes(16) };
  const b = { peerId: "bb".repeat(20), nonce: randomBytes(16) };

  test("the verifier computes what the prover sent", () => {
    assert.deepEqual(swarmProof(key, hash, a, b), swarmProof(Buffer.from(key), hash, { ...a }, { ...b }));
  });

  const variants: [string, Buffer][] = [
    ["another key", swarmProof(randomBytes(32), hash, a, b)],
    ["another torrent", swarmProof(key, "ef".repeat(20), a, b)],
    ["the roles swapped", swarmProof(key, hash, b, a)],
    ["another prover id", swarmProof(key, hash, { ...a, peerId: "cc".repeat(20) }, b)],
    ["a fresh verifier nonce (a replay)", swarmProof(key, hash, a, { ...b, nonce: randomBytes(16) })],
  ];
  for (const [name, proof] of variants) {
    test(`differs with ${name}`, () => assert.notDeepEqual(proof, swarmProof(key, hash, a, b)));
  }
});
