// Allocator.explainFramework: every agent counted under the first reason it is not offered to
// the framework now (the master's half of "why pending").
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseResources as r } from "../../../common/resources.js";
import { Allocator } from "../../../master/allocator/allocator.js";

function counts(al: Allocator, fw: string, nowMs: number, has = (_a: string, _f: string) => false) {
  return Object.fromEntries(al.explainFramework(fw, nowMs, has)!.agents);
}

describe("Allocator.explainFramework", () => {
  test("offered to it, filtered by it, draining, disconnected, nothing free", () => {
    const al = new Allocator();
    for (const id of ["a1", "a2", "a3", "a4", "a5"]) al.addAgent({ id, total: r("cpus:2;mem:1024") });
    al.addFramework({ id: "F", role: "*" });
    al.setAgentDraining("a3", true);
    al.setAgentActive("a4", false);
    const grants = al.allocate(0, () => false);
    assert.equal(grants.length, 3); // a1, a2, a5
    // F declines a2 for 10 s; a5's offer stays outstanding; a1's resources become a task.
    al.recover("a2", "F", grants.find((g) => g.agentId === "a2")!.resources, 100, 10);
    al.allocate(200, (a) => a === "a5" || a === "a1");
    const view = counts(al, "F", 300, (a, f) => f === "F" && a === "a5");
    assert.deepEqual(view, { no_resources: 1, filtered: 1, draining: 1, inactive: 1, offered_to_it: 1 });
    assert.equal(al.explainFramework("F", 300, () => false)!.filteredUntilMs, 100 + 10_000);
    // Once the filter has run out, a2 is free and merely waits for the next cycle.
    assert.equal(counts(al, "F", 20_000).pending, 1);
  });

  test("an agent whose offer another framework holds has nothing free; suppressed is the framework's own state", () => {
    const al = new Allocator();
    al.addAgent({ id: "a1", total: r("cpus:2;mem:1024") });
    al.addFramework({ id: "A", role: "*" });
    al.addFramework({ id: "B", role: "*", suppressed: true });
    const [g] = al.allocate(0, () => false);
    assert.equal(g!.frameworkId, "A");
    const b = al.explainFramework("B", 1, (a, f) => a === "a1" && f === "A")!;
    assert.equal(b.suppressed, true);
    assert.deepEqual(Object.fromEntries(b.agents), { no_resources: 1 });
    // Back from A unfiltered, visited again: offered to A again, which B sees as elsewhere.
    al.recover("a1", "A", g!.resources, 2, 0);
    al.revive("B");
    al.addFramework({ id: "C", role: "*" });
    const grants = al.allocate(3, () => false);
    const to = grants[0]!.frameworkId;
    const other = ["A", "B", "C"].find((f) => f !== to)!;
    assert.deepEqual(
      counts(al, other, 4, (a, f) => a === "a1" && f === to),
      { no_resources: 1 },
    );
    assert.equal(
      al.explainFramework("nobody", 4, () => false),
      undefined,
    );
  });

  test("held back for a role below its quota; an agent under disk pressure", () => {
    const al = new Allocator();
    for (const id of ["a1", "a2", "a3", "a4", "a5"]) al.addAgent({ id, total: r("cpus:2;mem:1000") });
    al.setRole("q", { quota: { cpus: 4 } });
    al.addFramework({ id: "Q", role: "q", suppressed: true });
    al.addFramework({ id: "P", role: "p" });
    al.setAgentDiskPressure("a5", true);
    const grants = al.allocate(0, () => false);
    const offered = new Set(grants.map((g) => g.agentId));
    assert.equal(offered.size, 2);
    const view = counts(al, "P", 1, (a, f) => f === "P" && offered.has(a));
    assert.deepEqual(view, { offered_to_it: 2, quota: 2, disk_pressure: 1 });
  });

  test("free resources on an agent where another framework holds an offer: offered elsewhere", () => {
    const al = new Allocator();
    al.addAgent({ id: "a1", total: r("cpus:4;mem:1024") });
    al.addFramework({ id: "A", role: "*" });
    al.addFramework({ id: "F", role: "*", suppressed: true });
    const [g] = al.allocate(0, () => false);
    assert.equal(g!.frameworkId, "A");
    // Part of A's grant comes back while its offer stays outstanding (say, a task ended).
    al.recover("a1", "A", r("cpus:1;mem:256"), 1, 0);
    const aHolds = (a: string, f: string) => a === "a1" && f === "A";
    assert.deepEqual(al.allocate(2, aHolds), []);
    assert.equal(al.lastCycleReasons().get("a1"), "outstanding_offer");
    assert.deepEqual(counts(al, "F", 3, aHolds), { offered_elsewhere: 1 });
  });
});
