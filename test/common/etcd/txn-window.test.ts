// Which etcd txns may be in flight together (common/etcd/txn-window.ts): disjoint keys only,
// at most `limit` at once, and what counts as stored moves only over a stored prefix.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { prefixEnd, TxnPlan, type WriteOp } from "../../../common/etcd/txn-plan.js";
import { keysOf, type TxnKeys, TxnWindow } from "../../../common/etcd/txn-window.js";

/** Keys from a tiny spec: "a b" single keys, "p/*" the range of the prefix p/. */
function keys(spec: string): TxnKeys {
  const plan = new TxnPlan();
  for (const word of spec.split(" ").filter(Boolean)) {
    const op: WriteOp = word.endsWith("*")
      ? { kind: "deleteRange", from: word.slice(0, -1), to: prefixEnd(word.slice(0, -1)), removed: [] }
      : { kind: "put", key: word, value: "v" };
    plan.apply(op);
  }
  return keysOf(plan);
}

describe("TxnWindow.mayStart", () => {
  const cases: { name: string; inFlight: string[]; next: string; may: boolean; limit?: number }[] = [
    { name: "nothing in flight", inFlight: [], next: "a", may: true },
    { name: "disjoint keys", inFlight: ["a b", "c"], next: "d e", may: true },
    { name: "a common key", inFlight: ["a b", "c"], next: "d b", may: false },
    { name: "a key inside a range in flight", inFlight: ["p/*"], next: "p/x", may: false },
    { name: "a key beside a range in flight", inFlight: ["p/*"], next: "q/x pa", may: true },
    { name: "a range over a key in flight", inFlight: ["events/07"], next: "events/*", may: false },
    { name: "overlapping ranges", inFlight: ["events/0*"], next: "events/*", may: false },
    { name: "disjoint ranges", inFlight: ["events/0*"], next: "events/1*", may: true },
    { name: "the limit reached (2 of 2)", inFlight: ["a", "b"], next: "c", may: false, limit: 2 },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const w = new TxnWindow(c.limit ?? 8);
      for (const k of c.inFlight) w.start(keys(k), 0);
      assert.equal(w.mayStart(keys(c.next)), c.may);
    });
  }

  test("a finished txn frees its keys and its slot", () => {
    const w = new TxnWindow(1);
    const f = w.start(keys("a p/*"), 1);
    assert.equal(w.mayStart(keys("b")), false, "the one slot is taken");
    w.finish(f);
    assert.equal(w.mayStart(keys("a p/x")), true);
    assert.equal(w.inFlight, 0);
  });

  test("a key written by two txns in flight stays busy until both end", () => {
    // Cannot happen through mayStart; finish must still count per txn.
    const w = new TxnWindow(4);
    const f1 = w.start(keys("a"), 1);
    const f2 = w.start(keys("a"), 2);
    w.finish(f1);
    assert.equal(w.mayStart(keys("a")), false);
    w.finish(f2);
    assert.equal(w.mayStart(keys("a")), true);
  });

  test("a limit below 1 is refused", () => {
    assert.throws(() => new TxnWindow(0), RangeError);
  });
});

describe("TxnWindow.finish", () => {
  test("stored moves over the prefix of finished txns only, in send order", () => {
    const w = new TxnWindow(4);
    const f1 = w.start(keys("a"), 3);
    const f2 = w.start(keys("b"), 5);
    const f3 = w.start(keys("c"), 9);
    assert.equal(w.finish(f3), 0, "the last txn stored first: nothing before it is");
    assert.equal(w.finish(f2), 0);
    assert.equal(w.finish(f1), 9, "all three stored: every unit up to 9");
    assert.equal(w.storedSeq, 9);
  });

  test("a part of a split unit (completeSeq 0) does not move stored", () => {
    const w = new TxnWindow(4);
    const part1 = w.start(keys("big/1"), 0);
    const part2 = w.start(keys("big/2"), 7);
    assert.equal(w.finish(part1), 0);
    assert.equal(w.finish(part2), 7);
  });

  test("finishing twice changes nothing", () => {
    const w = new TxnWindow(2);
    const f1 = w.start(keys("a"), 1);
    const f2 = w.start(keys("b"), 2);
    assert.equal(w.finish(f1), 1);
    assert.equal(w.finish(f1), 1);
    assert.equal(w.inFlight, 1);
    assert.equal(w.finish(f2), 2);
  });
});
