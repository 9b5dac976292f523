import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planEviction } from "../../../agent/fetcher/cache-eviction.js";

const MiB = 1024 * 1024;
const entries = [
  { release: "a@1", size: 40 * MiB, lastUsed: 300 },
  { release: "b@1", size: 40 * MiB, lastUsed: 100 },
  { release: "c@1", size: 40 * MiB, lastUsed: 200 },
  { release: "d@1", size: 40 * MiB, lastUsed: 400 },
];

describe("planEviction", () => {
  test("under the limit nothing is evicted", () => {
    assert.deepEqual(planEviction(entries, 200 * MiB, new Set()), {
      evict: [],
      bytesAfter: 160 * MiB,
      overLimit: false,
    });
  });

  test("least recently used go first, just enough to fit", () => {
    assert.deepEqual(planEviction(entries, 80 * MiB, new Set()).evict, ["b@1", "c@1"]);
    assert.deepEqual(planEviction(entries, 120 * MiB, new Set()).evict, ["b@1"]);
  });

  test("pinned releases are skipped, the next oldest goes instead", () => {
    const plan = planEviction(entries, 80 * MiB, new Set(["b@1"]));
    assert.deepEqual(plan.evict, ["c@1", "a@1"]);
    assert.equal(plan.bytesAfter, 80 * MiB);
  });

  test("the release being fetched is kept", () => {
    assert.deepEqual(planEviction(entries, 120 * MiB, new Set(), "b@1").evict, ["c@1"]);
  });

  test("when pinned releases alone exceed the limit the plan says so", () => {
    const plan = planEviction(entries, 50 * MiB, new Set(["a@1", "d@1"]));
    assert.deepEqual(plan.evict, ["b@1", "c@1"]);
    assert.equal(plan.overLimit, true);
    assert.equal(plan.bytesAfter, 80 * MiB);
  });

  test("ties in last use break by release name", () => {
    const tied = [
      { release: "z@1", size: 10, lastUsed: 5 },
      { release: "m@1", size: 10, lastUsed: 5 },
    ];
    assert.deepEqual(planEviction(tied, 10, new Set()).evict, ["m@1"]);
  });
});
