import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../../common/errors.js";
import {
  containsResources,
  parseResources as r,
  type Resources,
  subtractResources,
} from "../../../common/resources.js";
import { Allocator, type OfferGrant } from "../../../master/allocator/allocator.js";
import { OfferBook } from "../../../master/allocator/offer-book.js";

const noOffers = () => false;

function cluster(agents: number, total: string, init = {}): Allocator {
  const al = new Allocator(init);
  for (let i = 1; i <= agents; i++) al.addAgent({ id: `a${i}`, total: r(total) });
  return al;
}

function byFramework(grants: OfferGrant[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of grants) out[g.frameworkId] = (out[g.frameworkId] ?? 0) + 1;
  return out;
}

describe("Allocator", () => {
  test("the DRF paper's example: A <1 CPU, 4 GB> ends with 3 tasks, B <3 CPUs, 1 GB> with 2", () => {
    const al = cluster(1, "cpus:9;mem:18432");
    al.addFramework({ id: "A", role: "*" });
    al.addFramework({ id: "B", role: "*" });
    const task: Record<string, Resources> = { A: r("cpus:1;mem:4096"), B: r("cpus:3;mem:1024") };
    const launched: Record<string, number> = { A: 0, B: 0 };
    // Each framework launches ONE task per offer and returns the rest unfiltered.
    for (let cycle = 0; cycle < 20; cycle++) {
      const now = cycle * 100;
      for (const g of al.allocate(now, noOffers)) {
        const need = task[g.frameworkId]!;
        if (containsResources(g.resources, need)) {
          launched[g.frameworkId]!++;
          al.recover(g.agentId, g.frameworkId, subtractResources(g.resources, need), now, 0);
        } else {
          al.recover(g.agentId, g.frameworkId, g.resources, now, 0);
        }
      }
    }
    assert.deepEqual(launched, { A: 3, B: 2 });
    assert.deepEqual(al.frameworkAllocation("A"), r("cpus:3;mem:12288"));
    assert.deepEqual(al.frameworkAllocation("B"), r("cpus:6;mem:2048"));
    assert.equal(al.dominantShare("A"), 12288 / 18432);
    assert.equal(al.dominantShare("B"), 6 / 9);
    assert.deepEqual(al.available("a1"), r("mem:4096"));
  });

  test("a grant is all the agent's free resources and counts as allocated until recovered", () => {
    const al = cluster(1, "cpus:4;mem:4096;ports:[31000-31009]");
    al.addFramework({ id: "F", role: "*" });
    const [g] = al.allocate(0, noOffers);
    assert.deepEqual(g, {
      frameworkId: "F",
      agentId: "a1",
      resources: r("cpus:4;mem:4096;ports:[31000-31009]"),
    });
    assert.deepEqual(al.available("a1"), r(""));
    assert.equal(al.dominantShare("F"), 1);
    assert.deepEqual(al.allocate(1, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "no_resources");
    al.recover("a1", "F", r("cpus:1;mem:1024;ports:[31000-31004]"), 2, 0);
    assert.deepEqual(al.available("a1"), r("cpus:1;mem:1024;ports:[31000-31004]"));
    assert.deepEqual(al.frameworkAllocation("F"), r("cpus:3;mem:3072;ports:[31005-31009]"));
  });

  test("a role of weight 2 gets about twice the dominant share", () => {
    const al = cluster(30, "cpus:1;mem:1024");
    al.setRole("gold", { weight: 2 });
    al.addFramework({ id: "G", role: "gold" });
    al.addFramework({ id: "S", role: "silver" });
    assert.deepEqual(byFramework(al.allocate(0, noOffers)), { G: 20, S: 10 });
    assert.equal(al.dominantShare("G"), 2 * al.dominantShare("S"));
    assert.equal(al.roleShare("gold"), 20 / 30);
  });

  test("frameworks within a role share it by DRF", () => {
    const al = cluster(12, "cpus:1;mem:1024");
    for (const id of ["F1", "F2", "F3"]) al.addFramework({ id, role: "web" });
    assert.deepEqual(byFramework(al.allocate(0, noOffers)), { F1: 4, F2: 4, F3: 4 });
  });

  test("a role below its quota is offered first even with the larger share", () => {
    const al = cluster(4, "cpus:2;mem:1000");
    al.setRole("q", { quota: { cpus: 6 } });
    al.addFramework({ id: "P", role: "p" });
    al.addFramework({ id: "Q", role: "q" });
    al.addUsed("a1", "Q", r("cpus:2;mem:1000")); // Q: share 0.25, P: 0
    const grants = al.allocate(0, noOffers);
    assert.deepEqual(
      grants.map((g) => g.frameworkId),
      ["Q", "Q", "P"],
    );
  });

  test("quota headroom: free resources are held for a role below quota with nobody to take them", () => {
    const al = cluster(4, "cpus:2;mem:1000");
    al.setRole("q", { quota: { cpus: 4 } });
    al.addFramework({ id: "Q", role: "q", suppressed: true });
    al.addFramework({ id: "P", role: "p" });
    assert.deepEqual(byFramework(al.allocate(0, noOffers)), { P: 2 });
    const reasons = [...al.lastCycleReasons().values()].sort();
    assert.deepEqual(reasons, ["quota", "quota"]);
    al.revive("Q");
    assert.deepEqual(byFramework(al.allocate(1, noOffers)), { Q: 2 });
  });

  test("role settings are validated, naming the field and the value", () => {
    const al = new Allocator();
    assert.throws(
      () => al.setRole("r", { weight: -1 }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && /^weight: -1 is not a positive number/.test(e.message),
    );
    assert.throws(
      () => al.setRole("r", { quota: { mem: Number.NaN } }),
      (e: unknown) => e instanceof InvalidArgumentError && /^quota\.mem: NaN/.test(e.message),
    );
  });

  test("refuse_seconds filters that agent for that framework until the time passes", () => {
    const al = cluster(1, "cpus:2;mem:2048");
    al.addFramework({ id: "F", role: "*" });
    const [g] = al.allocate(1_000, noOffers);
    al.recover("a1", "F", g!.resources, 1_000, 10);
    assert.deepEqual(al.allocate(5_000, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "all_filtered");
    assert.deepEqual(al.allocate(10_999, noOffers), []);
    assert.deepEqual(byFramework(al.allocate(11_000, noOffers)), { F: 1 });
  });

  test("a filtered agent goes to the next framework; the default refuse is 5 s", () => {
    const al = cluster(1, "cpus:2;mem:2048");
    al.addFramework({ id: "A", role: "*" });
    al.addFramework({ id: "B", role: "*" });
    const [g] = al.allocate(0, noOffers);
    assert.equal(g!.frameworkId, "A");
    al.recover("a1", "A", g!.resources, 0); // default filter
    const [h] = al.allocate(1, noOffers);
    assert.equal(h!.frameworkId, "B");
    al.recover("a1", "B", h!.resources, 1, 0);
    assert.equal(al.allocate(4_999, noOffers)[0]!.frameworkId, "B");
    al.recover("a1", "B", r("cpus:2;mem:2048"), 4_999, 0);
    assert.equal(al.allocate(5_000, noOffers)[0]!.frameworkId, "A");
  });

  test("suppress stops offers; revive resumes them and clears filters", () => {
    const al = cluster(2, "cpus:1;mem:1024");
    al.addFramework({ id: "F", role: "*" });
    const first = al.allocate(0, noOffers);
    for (const g of first) al.recover(g.agentId, "F", g.resources, 0, 3600);
    al.suppress("F");
    assert.deepEqual(al.allocate(1, noOffers), []);
    al.revive("F");
    assert.deepEqual(byFramework(al.allocate(2, noOffers)), { F: 2 });
  });

  test("inactive frameworks get no offers; reason no_frameworks", () => {
    const al = cluster(1, "cpus:1;mem:1024");
    al.addFramework({ id: "F", role: "*", active: false });
    assert.deepEqual(al.allocate(0, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "no_frameworks");
    al.setFrameworkActive("F", true);
    assert.deepEqual(byFramework(al.allocate(1, noOffers)), { F: 1 });
  });

  test("inactive agents get no offers but keep their allocations", () => {
    const al = cluster(2, "cpus:1;mem:1024");
    al.addFramework({ id: "F", role: "*" });
    al.addUsed("a1", "F", r("cpus:0.5;mem:512"));
    al.setAgentActive("a1", false);
    al.setAgentActive("a2", false);
    assert.deepEqual(al.allocate(0, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "inactive");
    assert.deepEqual(al.frameworkAllocation("F"), r("cpus:0.5;mem:512"));
    al.setAgentActive("a1", true);
    assert.deepEqual(al.allocate(1, noOffers), [
      { frameworkId: "F", agentId: "a1", resources: r("cpus:0.5;mem:512") },
    ]);
  });

  test("draining agents get no new offers", () => {
    const al = new Allocator();
    al.addAgent({ id: "a1", total: r("cpus:1;mem:1024"), draining: true });
    al.addFramework({ id: "F", role: "*" });
    assert.deepEqual(al.allocate(0, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "draining");
    al.setAgentDraining("a1", false);
    assert.equal(al.allocate(1, noOffers).length, 1);
  });

  test("agents under disk pressure get no new offers, keep what they hold, and come back when it clears", () => {
    const al = cluster(2, "cpus:2;mem:2048");
    al.addFramework({ id: "F", role: "*" });
    al.addUsed("a1", "F", r("cpus:1;mem:1024"));
    al.setAgentDiskPressure("a1", true);
    assert.deepEqual(
      al.allocate(0, noOffers).map((g) => g.agentId),
      ["a2"],
    );
    assert.equal(al.lastCycleReasons().get("a1"), "disk_pressure");
    assert.deepEqual(al.frameworkAllocation("F"), r("cpus:3;mem:3072"));
    al.setAgentDiskPressure("a1", false);
    assert.deepEqual(al.allocate(1, noOffers), [
      { frameworkId: "F", agentId: "a1", resources: r("cpus:1;mem:1024") },
    ]);
  });

  test("a framework holding an offer on an agent is skipped there: one offer per (agent, framework)", () => {
    const al = cluster(1, "cpus:4;mem:4096");
    const book = new OfferBook();
    const has = (a: string, f: string) => book.has(a, f);
    al.addFramework({ id: "F", role: "*" });
    al.addUsed("a1", "X", r("cpus:2;mem:2048")); // a task of a framework not re-subscribed yet
    const [g] = al.allocate(0, has);
    book.add(g!, 0);
    al.recover("a1", "X", r("cpus:2;mem:2048"), 1, 0); // X's task ended
    assert.deepEqual(al.allocate(2, has), []);
    assert.equal(al.lastCycleReasons().get("a1"), "outstanding_offer");
    al.addFramework({ id: "G", role: "*" });
    assert.deepEqual(al.allocate(3, has), [
      { frameworkId: "G", agentId: "a1", resources: r("cpus:2;mem:2048") },
    ]);
  });

  test("allocateAgents visits only the named agents, each once", () => {
    const al = cluster(3, "cpus:1;mem:1024");
    al.addFramework({ id: "F", role: "*" });
    al.addFramework({ id: "G", role: "*" });
    const grants = al.allocateAgents(["a2", "a2", "a9", "a3"], 0, noOffers);
    assert.deepEqual(grants.map((g) => g.agentId).sort(), ["a2", "a3"]);
    assert.equal(new Set(grants.map((g) => `${g.agentId}/${g.frameworkId}`)).size, grants.length);
    assert.equal(al.lastCycleReasons().get("a1"), "pending");
  });

  test("the same seed gives the same grants; another seed another order", () => {
    const run = (seed: number) => {
      const al = cluster(50, "cpus:1;mem:1024", { seed });
      for (const id of ["F", "G", "H"]) al.addFramework({ id, role: "*" });
      return al.allocate(0, noOffers).map((g) => `${g.agentId}>${g.frameworkId}`);
    };
    assert.deepEqual(run(42), run(42));
    assert.notDeepEqual(run(42), run(43));
  });

  test("removing a framework returns its resources; removing an agent forgets its allocations", () => {
    const al = cluster(2, "cpus:2;mem:2048");
    al.addFramework({ id: "F", role: "*" });
    al.addFramework({ id: "G", role: "*" });
    const grants = al.allocate(0, noOffers);
    assert.deepEqual(byFramework(grants), { F: 1, G: 1 });
    const fAgent = grants.find((g) => g.frameworkId === "F")!.agentId;
    const gAgent = grants.find((g) => g.frameworkId === "G")!.agentId;
    al.removeFramework("F");
    assert.deepEqual(al.available(fAgent), r("cpus:2;mem:2048"));
    al.removeAgent(gAgent);
    assert.deepEqual(al.frameworkAllocation("G"), r(""));
    assert.equal(al.dominantShare("G"), 0);
    assert.deepEqual(al.allocate(1, noOffers), [
      { frameworkId: "G", agentId: fAgent, resources: r("cpus:2;mem:2048") },
    ]);
    assert.equal(al.dominantShare("G"), 1);
  });

  test("resources used before a framework is added count for it once it is", () => {
    const al = cluster(1, "cpus:4;mem:4096");
    al.addUsed("a1", "late", r("cpus:1;mem:1024"));
    al.addFramework({ id: "late", role: "*", active: false });
    assert.deepEqual(al.frameworkAllocation("late"), r("cpus:1;mem:1024"));
    assert.equal(al.dominantShare("late"), 0.25);
    assert.deepEqual(al.available("a1"), r("cpus:3;mem:3072"));
  });

  test("an agent with less than the minimum free is not offered", () => {
    const al = cluster(1, "cpus:1;mem:1024");
    al.addFramework({ id: "F", role: "*" });
    al.addUsed("a1", "F", r("cpus:0.995;mem:1000"));
    assert.deepEqual(al.allocate(0, noOffers), []);
    assert.equal(al.lastCycleReasons().get("a1"), "no_resources");
  });
});
