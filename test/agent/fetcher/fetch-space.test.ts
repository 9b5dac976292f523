import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { planFetchSpace, type SpaceRequest } from "../../../agent/fetcher/fetch-space.js";

const MiB = 1024 * 1024;
const cached = [
  { release: "a@1", size: 40 * MiB, lastUsed: 300 },
  { release: "b@1", size: 40 * MiB, lastUsed: 100 },
  { release: "c@1", size: 40 * MiB, lastUsed: 200 },
];

function req(r: Partial<SpaceRequest>): SpaceRequest {
  return {
    release: "new@1",
    needBytes: 100 * MiB,
    freeBytes: 200 * MiB,
    reserveBytes: 10 * MiB,
    cached,
    busy: new Set(),
    ...r,
  };
}

describe("planFetchSpace", () => {
  test("fits with the reserve left free: nothing evicted", () => {
    assert.deepEqual(planFetchSpace(req({ freeBytes: 110 * MiB })), { fits: true, evict: [] });
  });

  test("short by the reserve: the least recently used releases go, just enough", () => {
    assert.deepEqual(planFetchSpace(req({ freeBytes: 100 * MiB })), { fits: true, evict: ["b@1"] });
    assert.deepEqual(planFetchSpace(req({ freeBytes: 50 * MiB })), { fits: true, evict: ["b@1", "c@1"] });
  });

  test("busy releases (pinned, being fetched) and the release itself are never evicted", () => {
    const plan = planFetchSpace(req({ freeBytes: 50 * MiB, busy: new Set(["b@1"]) }));
    assert.deepEqual(plan, { fits: true, evict: ["c@1", "a@1"] });
    const self = planFetchSpace(req({ release: "b@1", freeBytes: 70 * MiB }));
    assert.deepEqual(self, { fits: true, evict: ["c@1"] });
  });

  test("does not fit even after evicting everything: nothing evicted, need and free named", () => {
    const plan = planFetchSpace(req({ release: "big@1", needBytes: 300 * MiB, freeBytes: 25 * MiB }));
    assert.deepEqual(plan, {
      fits: false,
      message:
        "not enough disk space for release big@1: needs 300.0 MiB plus a reserve of 10.0 MiB, " +
        "has 25.0 MiB free and 120.0 MiB in cached releases it could evict",
    });
  });

  test("nothing to evict: the message says only what is free", () => {
    const plan = planFetchSpace(req({ needBytes: 300 * MiB, freeBytes: 25 * MiB, cached: [] }));
    assert.equal(plan.fits, false);
    assert.match(
      (plan as { message: string }).message,
      /needs 300\.0 MiB plus a reserve of 10\.0 MiB, has 25\.0 MiB free$/,
    );
  });

  test("a resumed fetch needs only what is not on disk yet", () => {
    assert.deepEqual(planFetchSpace(req({ needBytes: 5 * MiB, freeBytes: 15 * MiB })), {
      fits: true,
      evict: [],
    });
  });
});
