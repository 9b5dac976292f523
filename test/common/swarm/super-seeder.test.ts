// Super-seeding (common/swarm/super-seeder.ts): no piece twice before every piece is out once,
// the rarest to distinct peers, one offer per peer until it is passed on.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Bitfield } from "../../../common/swarm/bitfield.js";
import { SuperSeeder } from "../../../common/swarm/super-seeder.js";

/** Offers every peer one piece, sends it, and has it announced; returns the pieces offered. */
function round(s: SuperSeeder<string>, peers: string[], now: number): (number | undefined)[] {
  const offered = peers.map((p) => s.offer(p, now));
  peers.forEach((p, i) => {
    const piece = offered[i];
    if (piece === undefined) return;
    s.sent(p, piece, now);
    s.peerHave(p, piece);
  });
  return offered;
}

describe("super-seeder", () => {
  test("every piece goes out once before any piece goes out twice", () => {
    const s = new SuperSeeder<string>({ pieceCount: 8, seed: 1, reofferAfterMs: 0 });
    const peers = ["a", "b", "c"];
    for (const p of peers) s.addPeer(p);
    const order: number[] = [];
    for (let t = 1; order.length < 16; t++) {
      for (const piece of round(s, peers, t)) if (piece !== undefined) order.push(piece);
    }
    assert.deepEqual(
      [...order.slice(0, 8)].sort((x, y) => x - y),
      [0, 1, 2, 3, 4, 5, 6, 7],
      `first 8 offers: ${order.slice(0, 8)}`,
    );
    assert.equal(s.allOut(), true);
  });

  test("while some piece was never out, a peer that holds all of those is offered nothing", () => {
    const s = new SuperSeeder<string>({ pieceCount: 2, seed: 1 });
    s.addPeer("a");
    s.addPeer("b", Bitfield.full(2));
    assert.equal(s.offer("b", 0), undefined);
    const first = s.offer("a", 0)!;
    assert.equal(s.timesOut(first), 1);
    s.addPeer("c");
    assert.equal(s.offer("c", 0), 1 - first, "c gets the other piece, not a second copy");
  });

  test("rarest to distinct peers: two peers asking at once get two different pieces", () => {
    const s = new SuperSeeder<string>({ pieceCount: 4, seed: 3 });
    for (const p of ["x", "y", "z"]) s.addPeer(p);
    // first round done elsewhere: the peers hold 0..3 in different numbers
    s.addPeer("h1", new Bitfield(4, Uint8Array.of(0b1111_0000)));
    s.addPeer("h2", new Bitfield(4, Uint8Array.of(0b1110_0000)));
    s.addPeer("h3", new Bitfield(4, Uint8Array.of(0b1100_0000)));
    // copies: 0 → 3, 1 → 3, 2 → 2, 3 → 1; never-out pieces go first, so all four are offered
    const firsts = [s.offer("x", 0), s.offer("y", 0), s.offer("z", 0)];
    assert.deepEqual(firsts, [3, 2, firsts[2]]);
    assert.ok(firsts[2] === 0 || firsts[2] === 1, `z got ${firsts[2]}`);
  });

  test("after the first round the rarest piece is offered, counting offers on their way", () => {
    const s = new SuperSeeder<string>({ pieceCount: 3, seed: 1 });
    s.addPeer("a");
    s.addPeer("b");
    s.addPeer("c");
    s.addPeer("d");
    // put every piece out once: a, b, c get one each, all announced and seen twice
    for (const p of ["a", "b", "c"]) {
      const piece = s.offer(p, 0)!;
      s.sent(p, piece, 0);
      s.peerHave(p, piece);
    }
    assert.equal(s.allOut(), true);
    s.addPeer("e", new Bitfield(3, Uint8Array.of(0b1100_0000))); // holds 0 and 1
    s.addPeer("f", new Bitfield(3, Uint8Array.of(0b1000_0000))); // holds 0
    // copies: 0 → 3, 1 → 2, 2 → 1
    assert.equal(s.offer("d", 1), 2);
    s.addPeer("g");
    // 2 now has 2 copies (one on its way to d), 1 has 2: a tie, but never piece 0
    assert.notEqual(s.offer("g", 1), 0);
  });

  test("one offer at a time: the next comes when the piece shows up at another peer", () => {
    const s = new SuperSeeder<string>({ pieceCount: 4, seed: 1, reofferAfterMs: 60_000 });
    s.addPeer("a");
    s.addPeer("b");
    const piece = s.offer("a", 0)!;
    assert.equal(s.offer("a", 0), undefined, "a holds its offer");
    assert.equal(s.mayServe("a", piece), true);
    assert.equal(s.mayServe("b", piece), false, "only offered pieces are served");
    s.sent("a", piece, 0);
    s.peerHave("a", piece);
    assert.equal(s.offer("a", 1000), undefined, "announced by a itself: not yet passed on");
    assert.deepEqual(s.peerHave("b", piece), ["a"], "b got it (from a): a is freed");
    assert.notEqual(s.offer("a", 1000), undefined);
  });

  test("a sent offer that nobody passes on frees its peer after reofferAfterMs", () => {
    const s = new SuperSeeder<string>({ pieceCount: 4, seed: 1, reofferAfterMs: 5000 });
    s.addPeer("a");
    s.addPeer("b"); // lacks the piece, but never takes it from a
    const piece = s.offer("a", 0)!;
    s.sent("a", piece, 100);
    assert.equal(s.offer("a", 5099), undefined);
    assert.notEqual(s.offer("a", 5100), undefined);
  });

  test("a peer with nobody to pass its piece to gets the next offer at once", () => {
    const s = new SuperSeeder<string>({ pieceCount: 4, seed: 1, reofferAfterMs: 60_000 });
    s.addPeer("alone");
    const first = s.offer("alone", 0)!;
    assert.equal(s.offer("alone", 0), undefined, "not sent yet: it holds its offer");
    s.sent("alone", first, 10);
    const second = s.offer("alone", 10);
    assert.notEqual(second, undefined, "delivered, and no other peer lacks it");
    assert.notEqual(second, first);
    // A second peer that already holds the piece changes nothing; one that lacks it does.
    s.addPeer("full", Bitfield.full(4));
    s.sent("alone", second!, 20);
    assert.notEqual(s.offer("alone", 20), undefined);
  });

  test("a peer that leaves gives back the offer it was not sent", () => {
    const s = new SuperSeeder<string>({ pieceCount: 1, seed: 1 });
    s.addPeer("a");
    assert.equal(s.offer("a", 0), 0);
    s.removePeer("a");
    assert.equal(s.allOut(), false);
    s.addPeer("b");
    assert.equal(s.offer("b", 0), 0);
  });
});
