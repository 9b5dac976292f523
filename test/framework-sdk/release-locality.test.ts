import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { holdsRelease, preferHolders } from "../../framework-sdk/index.js";

const offer = (id: string, releases: string[]) => ({ id, releases });

describe("release locality helpers", () => {
  test("holdsRelease: the offer names the release; no release is held everywhere", () => {
    assert.equal(holdsRelease(offer("a", ["web@1", "api@2"]), "web@1"), true);
    assert.equal(holdsRelease(offer("a", ["web@1"]), "web@2"), false);
    assert.equal(holdsRelease(offer("a", []), "web@1"), false);
    assert.equal(holdsRelease(offer("a", []), ""), true);
  });

  test("preferHolders: holders first, each group in the order given", () => {
    const offers = [
      offer("a", []),
      offer("b", ["web@1"]),
      offer("c", ["api@2"]),
      offer("d", ["api@2", "web@1"]),
      offer("e", []),
    ];
    assert.deepEqual(
      preferHolders(offers, "web@1").map((o) => o.id),
      ["b", "d", "a", "c", "e"],
    );
    assert.deepEqual(
      preferHolders(offers, "none@0").map((o) => o.id),
      ["a", "b", "c", "d", "e"],
    );
    assert.deepEqual(
      offers.map((o) => o.id),
      ["a", "b", "c", "d", "e"],
      "the input is left as it was",
    );
  });
});
