import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseResources as r } from "../../../common/resources.js";
import { OfferBook } from "../../../master/allocator/offer-book.js";

function book(timeoutMs = 30_000): OfferBook {
  let n = 0;
  return new OfferBook({ offerTimeoutMs: timeoutMs, newId: () => `o${++n}` });
}

describe("OfferBook", () => {
  test("add records the grant with its expiry; get, has, forAgent, forFramework find it", () => {
    const b = book();
    const rec = b.add({ frameworkId: "F", agentId: "a1", resources: r("cpus:1;mem:64") }, 1_000);
    assert.deepEqual(rec, {
      id: "o1",
      frameworkId: "F",
      agentId: "a1",
      resources: r("cpus:1;mem:64"),
      createdAtMs: 1_000,
      expiresAtMs: 31_000,
    });
    assert.equal(b.get("o1"), rec);
    assert.equal(b.has("a1", "F"), true);
    assert.equal(b.has("a1", "G"), false);
    assert.equal(b.has("a2", "F"), false);
    assert.deepEqual(b.forAgent("a1"), [rec]);
    assert.deepEqual(b.forFramework("F"), [rec]);
    assert.deepEqual(b.forAgent("a2"), []);
    assert.equal(b.size(), 1);
  });

  test("the default id is an offer- id", () => {
    const rec = new OfferBook().add({ frameworkId: "F", agentId: "a1", resources: r("cpus:1") }, 0);
    assert.match(rec.id, /^offer-/);
    assert.equal(rec.expiresAtMs, 30_000);
  });

  test("remove forgets the offer everywhere and returns it once", () => {
    const b = book();
    b.add({ frameworkId: "F", agentId: "a1", resources: r("cpus:1") }, 0);
    b.add({ frameworkId: "G", agentId: "a1", resources: r("cpus:1") }, 0);
    assert.equal(b.remove("o1")?.frameworkId, "F");
    assert.equal(b.remove("o1"), undefined);
    assert.equal(b.get("o1"), undefined);
    assert.equal(b.has("a1", "F"), false);
    assert.equal(b.has("a1", "G"), true);
    assert.deepEqual(
      b.forAgent("a1").map((o) => o.id),
      ["o2"],
    );
    assert.deepEqual(b.forFramework("F"), []);
    assert.equal(b.size(), 1);
  });

  test("expired lists offers at or past their expiry, oldest first, without removing them", () => {
    const b = book(1_000);
    b.add({ frameworkId: "F", agentId: "a1", resources: r("cpus:1") }, 0);
    b.add({ frameworkId: "F", agentId: "a2", resources: r("cpus:1") }, 500);
    b.add({ frameworkId: "F", agentId: "a3", resources: r("cpus:1") }, 900);
    assert.deepEqual(b.expired(999), []);
    assert.deepEqual(
      b.expired(1_500).map((o) => o.id),
      ["o1", "o2"],
    );
    assert.equal(b.size(), 3);
    b.remove("o1");
    assert.deepEqual(
      b.expired(5_000).map((o) => o.id),
      ["o2", "o3"],
    );
  });

  test("expired is right when offers were added with clocks out of order", () => {
    const b = book(1_000);
    b.add({ frameworkId: "F", agentId: "a1", resources: r("cpus:1") }, 2_000);
    b.add({ frameworkId: "F", agentId: "a2", resources: r("cpus:1") }, 0);
    assert.deepEqual(
      b.expired(1_000).map((o) => o.id),
      ["o2"],
    );
    assert.deepEqual(
      b.expired(3_000).map((o) => o.id),
      ["o2", "o1"],
    );
  });

  test("the record holds its own copy of the resources", () => {
    const b = book();
    const grant = { frameworkId: "F", agentId: "a1", resources: r("cpus:1;ports:[1-2]") };
    const rec = b.add(grant, 0);
    grant.resources.cpus = 99;
    grant.resources.ports[0]!.end = 9;
    assert.deepEqual(rec.resources, r("cpus:1;ports:[1-2]"));
  });

  test("a bad timeout is refused", () => {
    assert.throws(() => new OfferBook({ offerTimeoutMs: 0 }), /offerTimeoutMs: 0 is not a positive number/);
  });
});
