// Packing write units into etcd txns (common/etcd/txn-plan.ts): coalescing, what a deleted
// prefix becomes when a put lands inside it, and where units are cut.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { prefixEnd, takeTxn, TxnPlan, type WriteOp, type WriteUnit } from "../../../common/etcd/txn-plan.js";

const put = (key: string, value = "v"): WriteOp => ({ kind: "put", key, value });
const del = (key: string): WriteOp => ({ kind: "delete", key });
const delPrefix = (prefix: string, ...removed: string[]): WriteOp => ({
  kind: "deleteRange",
  from: prefix,
  to: prefixEnd(prefix),
  removed,
});

function plan(...ops: WriteOp[]) {
  const p = new TxnPlan();
  for (const op of ops) p.apply(op);
  return { entries: Object.fromEntries(p.entries), ranges: p.ranges.map((r) => r.from) };
}

describe("TxnPlan", () => {
  const cases: {
    name: string;
    ops: WriteOp[];
    entries: Record<string, string | undefined>;
    ranges: string[];
  }[] = [
    {
      name: "the last write of a key wins",
      ops: [put("a", "1"), put("a", "2")],
      entries: { a: "2" },
      ranges: [],
    },
    { name: "a put then its delete", ops: [put("a"), del("a")], entries: { a: undefined }, ranges: [] },
    {
      name: "a deleted prefix swallows the writes under it",
      ops: [put("p/a"), del("p/b"), put("q"), delPrefix("p/", "p/a", "p/c")],
      entries: { q: "v" },
      ranges: ["p/"],
    },
    {
      name: "a put inside a deleted prefix expands it into single deletes",
      ops: [delPrefix("p/", "p/a", "p/b"), put("p/a", "new")],
      entries: { "p/b": undefined, "p/a": "new" },
      ranges: [],
    },
    {
      name: "a delete inside a deleted prefix adds nothing",
      ops: [delPrefix("p/", "p/a"), del("p/b")],
      entries: {},
      ranges: ["p/"],
    },
    {
      name: "an outer prefix absorbs an inner one with its keys",
      ops: [delPrefix("p/x/", "p/x/1"), delPrefix("p/", "p/a"), put("p/z")],
      entries: { "p/a": undefined, "p/x/1": undefined, "p/z": "v" },
      ranges: [],
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(plan(...c.ops), { entries: c.entries, ranges: c.ranges });
    });
  }
});

describe("takeTxn", () => {
  const units = (...sizes: number[]): WriteUnit[] =>
    sizes.map((n, i) => ({ seq: i + 1, ops: Array.from({ length: n }, (_, j) => put(`u${i + 1}/${j}`)) }));
  const limits = { maxOps: 10, maxBytes: 1_000_000 };

  test("whole units while they fit, then the next txn", () => {
    const q = units(4, 4, 4);
    const first = takeTxn(q, limits);
    assert.equal(first.plan.opCount, 8);
    assert.equal(first.plan.completeSeq, 2);
    assert.equal(first.split, false);
    const second = takeTxn(q, limits);
    assert.equal(second.plan.opCount, 4);
    assert.equal(second.plan.completeSeq, 3);
    assert.equal(q.length, 0);
  });

  test("coalesced writes count once", () => {
    const q: WriteUnit[] = [
      { seq: 1, ops: Array.from({ length: 8 }, () => put("same")) },
      { seq: 2, ops: Array.from({ length: 9 }, (_, i) => put(`k${i}`)) },
    ];
    const t = takeTxn(q, limits);
    assert.equal(t.plan.opCount, 10);
    assert.equal(t.plan.completeSeq, 2);
  });

  test("a unit larger than a txn is cut, in order, and completes with its last part", () => {
    const q = units(2, 25);
    assert.equal(takeTxn(q, limits).plan.completeSeq, 1);
    const a = takeTxn(q, limits);
    assert.deepEqual([a.plan.opCount, a.plan.completeSeq, a.split], [10, 0, true]);
    assert.deepEqual([...a.plan.entries.keys()].slice(0, 2), ["u2/0", "u2/1"]);
    const b = takeTxn(q, limits);
    assert.deepEqual([b.plan.opCount, b.plan.completeSeq], [10, 0]);
    const c = takeTxn(q, limits);
    assert.deepEqual([c.plan.opCount, c.plan.completeSeq, q.length], [5, 2, 0]);
  });

  test("the byte limit cuts too", () => {
    const q: WriteUnit[] = [
      { seq: 1, ops: [put("a", "x".repeat(600))] },
      { seq: 2, ops: [put("b", "x".repeat(600))] },
    ];
    const t = takeTxn(q, { maxOps: 128, maxBytes: 1_000 });
    assert.deepEqual([t.plan.opCount, t.plan.completeSeq, q.length], [1, 1, 1]);
  });
});
