// Upload slots (common/swarm/choker.ts): tit-for-tat with an optimistic slot while
// downloading, round-robin turns as a seed, a freed slot filled at once.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Choker } from "../../../common/swarm/choker.js";

function downloader(slots = 3, seed = 1) {
  return new Choker<string>({ role: "download", seed, slots, optimistic: 1, optimisticMs: 30_000 });
}

describe("choker", () => {
  test("slots go to interested peers only, up to the limit", () => {
    const c = downloader(2);
    for (const p of ["a", "b", "c"]) c.joined(p, 0);
    assert.deepEqual(c.interested("a", true, 0), { unchoke: ["a"], choke: [] });
    assert.deepEqual(c.interested("b", true, 0), { unchoke: ["b"], choke: [] });
    assert.deepEqual(c.interested("c", true, 0), { unchoke: [], choke: [] }, "both slots are taken");
    assert.equal(c.unchokedCount(), 2);
  });

  test("a slot freed by a peer that lost interest goes at once to one that waits", () => {
    const c = downloader(1);
    for (const p of ["a", "b"]) c.joined(p, 0);
    c.interested("a", true, 0);
    c.interested("b", true, 0);
    assert.deepEqual(c.interested("a", false, 5), { unchoke: ["b"], choke: ["a"] });
    assert.deepEqual(c.left("b", 6), { unchoke: [], choke: [] });
    assert.equal(c.unchokedCount(), 0);
  });

  test("tit-for-tat: the regular slots go to the peers that sent us the most", () => {
    const c = downloader(3);
    for (const p of ["slow", "mid", "fast", "idle"]) {
      c.joined(p, 0);
      c.interested(p, true, 0);
    }
    c.tick(0);
    c.transferred("fast", 3_000_000);
    c.transferred("mid", 2_000_000);
    c.transferred("slow", 1_000_000);
    c.tick(10_000);
    assert.equal(c.isUnchoked("fast"), true);
    assert.equal(c.isUnchoked("mid"), true);
    // the third slot is the optimistic one: one of the two others
    assert.equal(c.unchokedCount(), 3);
  });

  test("the optimistic slot stays for optimisticMs, then moves to another choked peer", () => {
    const c = downloader(2);
    for (const p of ["top", "x", "y", "z"]) {
      c.joined(p, 0);
      c.interested(p, true, 0);
    }
    const holder = () => ["x", "y", "z"].filter((p) => c.isUnchoked(p));
    const seen = new Set<string>();
    for (let t = 0; t <= 300_000; t += 10_000) {
      c.transferred("top", 1_000_000);
      c.tick(t);
      assert.equal(c.isUnchoked("top"), true, "the fastest keeps its regular slot");
      assert.equal(holder().length, 1, `one optimistic at ${t}`);
      seen.add(holder()[0]!);
    }
    assert.ok(seen.size >= 2, `the optimistic slot never moved: ${[...seen]}`);
  });

  test("the optimistic slot does not move before optimisticMs", () => {
    const c = downloader(2);
    for (const p of ["top", "x", "y", "z"]) {
      c.joined(p, 0);
      c.interested(p, true, 0);
    }
    c.transferred("top", 1);
    c.tick(30_000);
    const first = ["x", "y", "z"].find((p) => c.isUnchoked(p));
    c.transferred("top", 1);
    c.tick(40_000);
    c.transferred("top", 1);
    c.tick(50_000);
    assert.equal(
      ["x", "y", "z"].find((p) => c.isUnchoked(p)),
      first,
    );
  });

  test("seed: turns rotate round-robin; a holder past maxTurnMs yields to the longest waiting", () => {
    const c = new Choker<string>({ role: "seed", seed: 1, slots: 1, maxTurnMs: 10_000, idleBytes: 0 });
    for (const [i, p] of ["a", "b", "c"].entries()) {
      c.joined(p, 0);
      c.interested(p, true, i);
    }
    assert.equal(c.isUnchoked("a"), true);
    const order = ["a"];
    for (let t = 10_000; t <= 40_000; t += 10_000) {
      c.transferred(order[order.length - 1]!, 1_000_000);
      const d = c.tick(t);
      order.push(d.unchoke[0]!);
    }
    assert.deepEqual(order, ["a", "b", "c", "a", "b"]);
  });

  test("seed: a holder that took next to nothing in a tick gives its slot up", () => {
    const c = new Choker<string>({
      role: "seed",
      seed: 1,
      slots: 1,
      maxTurnMs: 60_000,
      idleBytes: 64 * 1024,
    });
    for (const p of ["a", "b"]) {
      c.joined(p, 0);
      c.interested(p, true, 0);
    }
    c.transferred("a", 10 * 1024 * 1024);
    assert.deepEqual(c.tick(2_500), { unchoke: [], choke: [] }, "a uses its slot");
    c.transferred("a", 1024);
    assert.deepEqual(c.tick(5_000), { unchoke: ["b"], choke: ["a"] });
  });

  test("seed: nobody waiting, nobody is choked", () => {
    const c = new Choker<string>({ role: "seed", seed: 1, slots: 2, maxTurnMs: 1000 });
    c.joined("a", 0);
    c.interested("a", true, 0);
    assert.deepEqual(c.tick(50_000), { unchoke: [], choke: [] });
  });

  test("a downloader that completes becomes a seed: its slots rotate from then on", () => {
    const c = downloader(1);
    for (const p of ["a", "b"]) {
      c.joined(p, 0);
      c.interested(p, true, 0);
    }
    assert.equal(c.role(), "download");
    c.becomeSeed(0);
    assert.equal(c.role(), "seed");
    const first = c.isUnchoked("a") ? "a" : "b";
    const d = c.tick(10_000);
    assert.deepEqual(d, { unchoke: [first === "a" ? "b" : "a"], choke: [first] });
  });
});
