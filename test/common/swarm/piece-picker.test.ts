// The piece picker's rules (common/swarm/piece-picker.ts): rarest first with a seeded random
// tie-break, strict priority to started pieces, endgame once nothing is left to hand out.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Bitfield } from "../../../common/swarm/bitfield.js";
import { PiecePicker } from "../../../common/swarm/piece-picker.js";

const KiB = 1024;

/** A picker of `pieces` pieces of 32 KiB (two 16 KiB blocks each). */
function picker(pieces: number, seed = 1): PiecePicker<string> {
  return new PiecePicker<string>({ totalLength: pieces * 32 * KiB, pieceLength: 32 * KiB, seed });
}

function bits(pieces: number, held: number[]): Bitfield {
  const b = new Bitfield(pieces);
  for (const p of held) b.set(p);
  return b;
}

describe("piece picker", () => {
  test("rarest first: the piece the fewest peers hold", () => {
    const p = picker(4);
    p.addPeer("a", bits(4, [0, 1, 2, 3]));
    p.addPeer("b", bits(4, [0, 1, 3]));
    p.addPeer("c", bits(4, [0, 3]));
    // availability: 0 → 3, 1 → 2, 2 → 1, 3 → 3
    assert.deepEqual(p.pick("a", 1, 32 * KiB), [{ piece: 2, begin: 0, length: 32 * KiB }]);
    assert.deepEqual(p.pick("a", 1, 32 * KiB), [{ piece: 1, begin: 0, length: 32 * KiB }]);
  });

  test("rarest among the pieces this peer holds, not the swarm's rarest", () => {
    const p = picker(3);
    p.addPeer("a", bits(3, [0]));
    p.addPeer("b", bits(3, [0, 1, 2]));
    p.addPeer("c", bits(3, [1, 2]));
    assert.deepEqual(
      p.pick("a", 4, 32 * KiB).map((r) => r.piece),
      [0],
    );
  });

  test("ties are broken at random, and the same seed replays the same choice", () => {
    const firstPick = (seed: number) => {
      const p = picker(16, seed);
      p.addPeer("a", Bitfield.full(16));
      return p.pick("a", 1, 32 * KiB)[0]!.piece;
    };
    const seeds = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    const picks = seeds.map(firstPick);
    assert.ok(
      new Set(picks).size >= 4,
      `12 seeds gave only ${new Set(picks).size} distinct pieces: ${picks}`,
    );
    assert.deepEqual(seeds.map(firstPick), picks);
  });

  test("strict priority to finishing a started piece before any new one", () => {
    const p = picker(3);
    p.addPeer("a", bits(3, [0, 1, 2]));
    p.addPeer("b", bits(3, [0, 1, 2]));
    p.addPeer("c", bits(3, [0, 1]));
    // a takes the first block of the rarest piece, 2
    assert.deepEqual(p.pick("a", 1, 16 * KiB), [{ piece: 2, begin: 0, length: 16 * KiB }]);
    // c does not hold 2: it starts the rarest of its own; then b finishes 2 before anything new
    assert.equal(p.pick("c", 1, 16 * KiB)[0]!.piece !== 2, true);
    p.addPeer("d", bits(3, [0, 1, 2]));
    const next = p.pick("d", 1, 16 * KiB)[0]!;
    assert.deepEqual(next, { piece: 2, begin: 16 * KiB, length: 16 * KiB });
  });

  test("block size per peer: a large-block peer gets a whole piece per request, a standard one 16 KiB", () => {
    const p = picker(2);
    p.addPeer("yard", bits(2, [0, 1]));
    p.addPeer("std", bits(2, [1]));
    // piece 0 is the rarer (1 holder): the Yard peer takes all of it in one request
    assert.deepEqual(p.pick("yard", 4, 1024 * KiB), [
      { piece: 0, begin: 0, length: 32 * KiB },
      { piece: 1, begin: 0, length: 32 * KiB },
    ]);
    const q = picker(2);
    q.addPeer("std", bits(2, [1]));
    assert.deepEqual(q.pick("std", 4), [
      { piece: 1, begin: 0, length: 16 * KiB },
      { piece: 1, begin: 16 * KiB, length: 16 * KiB },
    ]);
  });

  test("no endgame while blocks are left: a second peer gets other blocks, never the same", () => {
    const p = picker(2);
    p.addPeer("a", Bitfield.full(2));
    p.addPeer("b", Bitfield.full(2));
    const a = p.pick("a", 2, 16 * KiB);
    const b = p.pick("b", 2, 16 * KiB);
    assert.equal(p.inEndgame(), true, "all four blocks are asked for now");
    const keys = [...a, ...b].map((r) => `${r.piece}:${r.begin}`);
    assert.equal(new Set(keys).size, 4);
  });

  test("endgame: once every missing block is asked for, a block goes to a second peer, and the first answer cancels the other", () => {
    const p = picker(1);
    p.addPeer("slow", Bitfield.full(1));
    p.addPeer("fast", Bitfield.full(1));
    const slow = p.pick("slow", 2, 16 * KiB);
    assert.equal(slow.length, 2);
    assert.equal(p.inEndgame(), true);
    const dup = p.pick("fast", 2, 16 * KiB);
    assert.deepEqual(
      dup.map((r) => r.begin).sort((x, y) => x - y),
      [0, 16 * KiB],
    );
    assert.deepEqual(p.pick("slow", 2, 16 * KiB), [], "never the same block twice from one peer");
    const first = p.received("fast", dup[0]!);
    assert.deepEqual(first.cancels, [{ peer: "slow", request: dup[0] }]);
    assert.equal(first.pieceComplete, false);
    const late = p.received("slow", dup[0]!);
    assert.equal(late.useful, false, "the duplicate that comes second is thrown away");
    const second = p.received("slow", dup[1]!);
    assert.deepEqual(second.cancels, [{ peer: "fast", request: dup[1] }]);
    assert.equal(second.pieceComplete, true);
    assert.deepEqual(p.verified(0), ["slow", "fast"], "both peers are no longer interesting");
    assert.equal(p.complete(), true);
  });

  test("a request that is not answered goes back, and an untouched piece competes by rarity again", () => {
    const p = picker(2);
    p.addPeer("a", bits(2, [0, 1]));
    p.addPeer("b", bits(2, [1]));
    const [r] = p.pick("a", 1, 32 * KiB);
    assert.equal(r!.piece, 0);
    p.released("a", r!);
    assert.equal(p.inEndgame(), false);
    p.addPeer("c", bits(2, [0]));
    p.addPeer("d", bits(2, [0]));
    // piece 0 now has 3 holders, piece 1 two: 1 is the rarer
    assert.equal(p.pick("a", 1, 32 * KiB)[0]!.piece, 1);
  });

  test("a peer that leaves: its pieces no longer count and its requests are handed out again", () => {
    const p = picker(1);
    p.addPeer("a", Bitfield.full(1));
    p.addPeer("b", Bitfield.full(1));
    assert.equal(p.availabilityOf(0), 2);
    const asked = p.pick("a", 2, 16 * KiB);
    assert.deepEqual(p.removePeer("a"), asked);
    assert.equal(p.availabilityOf(0), 1);
    assert.equal(p.inEndgame(), false);
    assert.equal(p.pick("b", 2, 16 * KiB).length, 2);
  });

  test("a piece that fails its hash is fetched again whole", () => {
    const p = picker(1);
    p.addPeer("a", Bitfield.full(1));
    for (const r of p.pick("a", 2, 16 * KiB)) p.received("a", r);
    p.failed(0);
    assert.equal(p.complete(), false);
    assert.equal(p.pick("a", 4, 16 * KiB).length, 2);
  });

  test("interest follows the pieces: a have of a missing piece makes a peer interesting, our copy ends it", () => {
    const p = picker(2);
    assert.equal(p.addPeer("a"), false);
    assert.equal(p.peerHave("a", 1), true);
    assert.equal(p.peerHave("a", 1), false, "a repeated have changes nothing");
    assert.equal(p.interesting("a"), true);
    for (const r of p.pick("a", 1, 32 * KiB)) p.received("a", r);
    assert.deepEqual(p.verified(1), ["a"]);
    assert.equal(p.interesting("a"), false);
  });
});
