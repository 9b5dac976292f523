import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DEFAULT_ROLLOUT, type RolloutPolicy } from "../../../frameworks/service/app-spec.js";
import { planStep, type StepSnapshot, stepTargets } from "../../../frameworks/service/rollout-plan.js";

const policy = (p: Partial<RolloutPolicy>): RolloutPolicy => ({ ...DEFAULT_ROLLOUT, ...p });
/** true: healthy, false: unhealthy, "?": unknown (no verdict yet). */
const old = (health: (boolean | "?")[]) =>
  health.map((h, i) => ({
    taskId: `old-${i}`,
    health: h === "?" ? ("unknown" as const) : h ? ("healthy" as const) : ("unhealthy" as const),
  }));

function snap(s: Partial<StepSnapshot> & { old: StepSnapshot["old"] }): StepSnapshot {
  return {
    instances: 3,
    policy: policy({ maxSurge: { count: 1 }, maxUnavailable: { count: 0 } }),
    target: 3,
    newLive: 0,
    newHealthy: 0,
    newReady: 0,
    ...s,
  };
}

describe("stepTargets", () => {
  const cases: [string, RolloutPolicy["steps"], number, number[]][] = [
    [
      "[1, 10%, 50%, 100%] of 100",
      [{ count: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }],
      100,
      [1, 10, 50, 100],
    ],
    ["percentages round up", [{ percent: 10 }, { percent: 50 }, { percent: 100 }], 3, [1, 2, 3]],
    ["a count over the total is clamped", [{ count: 5 }, { percent: 100 }], 3, [3, 3]],
    ["a missing final step is added", [{ count: 1 }], 4, [1, 4]],
    ["zero instances", [{ percent: 100 }], 0, [0]],
  ];
  for (const [name, steps, n, want] of cases) {
    test(name, () => assert.deepEqual(stepTargets(steps, n), want));
  }
});

describe("planStep", () => {
  test("surge 1, unavailable 0: start one new, stop nothing until it is healthy", () => {
    assert.deepEqual(planStep(snap({ old: old([true, true, true]) })), { start: 1, stop: [], done: false });
  });

  test("surge 1, unavailable 0: a healthy new one lets one old one go", () => {
    const d = planStep(snap({ newLive: 1, newHealthy: 1, old: old([true, true, true]) }));
    assert.deepEqual(d, { start: 0, stop: ["old-0"], done: false });
  });

  test("surge 0, unavailable 1: stop one old first, then start its replacement", () => {
    const p = policy({ maxSurge: { count: 0 }, maxUnavailable: { count: 1 } });
    assert.deepEqual(planStep(snap({ policy: p, old: old([true, true, true]) })), {
      start: 0,
      stop: ["old-0"],
      done: false,
    });
    assert.deepEqual(planStep(snap({ policy: p, old: old([true, true]) })), {
      start: 1,
      stop: [],
      done: false,
    });
  });

  test("unhealthy old instances are stopped first and cost no availability", () => {
    const d = planStep(snap({ newLive: 1, newHealthy: 1, old: old([true, false, true]) }));
    assert.deepEqual(d.stop, ["old-1"]); // the healthy ones stay: 2 old + 1 new = 3 = the floor
  });

  test("old instances of unknown health are never stopped as unhealthy (a restarted framework before its reconciliation)", () => {
    // Six old, none heard of yet; surge 1, unavailable 0: one new may start, no old one stops.
    const six = old(["?", "?", "?", "?", "?", "?"]);
    assert.deepEqual(planStep(snap({ instances: 6, target: 6, old: six })), {
      start: 1,
      stop: [],
      done: false,
    });
    // Even with a new one healthy, the floor of 6 counts only known-healthy instances.
    const d = planStep(snap({ instances: 6, target: 6, newLive: 1, newHealthy: 1, old: six }));
    assert.deepEqual(d.stop, []);
  });

  test("unknown old instances go only while the healthy ones alone reach the floor; before healthy ones", () => {
    // 3 instances, floor 3: two healthy old + one healthy new reach it, so the unknown one may go.
    const d = planStep(snap({ newLive: 1, newHealthy: 1, old: old([true, "?", true]) }));
    assert.deepEqual(d.stop, ["old-1"]);
    // Without the healthy new one the floor is not reached: nothing goes.
    assert.deepEqual(planStep(snap({ newLive: 1, old: old([true, "?", true]) })).stop, []);
    // Unhealthy first, then unknown, then healthy (surge 3, unavailable 1: floor 2).
    const p = policy({ maxSurge: { count: 3 }, maxUnavailable: { count: 1 } });
    const all = planStep(snap({ policy: p, newLive: 3, newHealthy: 3, old: old([true, "?", false]) }));
    assert.deepEqual(all.stop, ["old-2", "old-1", "old-0"]);
  });

  test("a step stops at its target: 1 of 3 keeps two old ones", () => {
    const d = planStep(snap({ target: 1, newLive: 1, newHealthy: 1, newReady: 1, old: old([true, true]) }));
    assert.deepEqual(d, { start: 0, stop: [], done: true });
  });

  test("a step is not done until its new instances are ready (min healthy time)", () => {
    const d = planStep(snap({ target: 1, newLive: 1, newHealthy: 1, newReady: 0, old: old([true, true]) }));
    assert.equal(d.done, false);
  });

  test("percent surge and unavailability on 100 instances: 25% each way", () => {
    const p = policy({ maxSurge: { percent: 25 }, maxUnavailable: { percent: 25 } });
    const o = Array.from({ length: 100 }, (_, i) => ({ taskId: `o${i}`, health: "healthy" as const }));
    const d = planStep({
      instances: 100,
      policy: p,
      target: 50,
      newLive: 0,
      newHealthy: 0,
      newReady: 0,
      old: o,
    });
    assert.equal(d.start, 25);
    assert.equal(d.stop.length, 25);
  });

  test("never below instances - max_unavailable healthy", () => {
    const p = policy({ maxSurge: { count: 2 }, maxUnavailable: { count: 1 } });
    // 3 old healthy, 2 new running but not healthy: only one old may go.
    const d = planStep({
      instances: 3,
      policy: p,
      target: 3,
      newLive: 2,
      newHealthy: 0,
      newReady: 0,
      old: old([true, true, true]),
    });
    assert.equal(d.stop.length, 1);
    assert.equal(d.start, 0);
  });

  test("a new app (no old instances) starts the step's target at once", () => {
    const d = planStep(snap({ target: 2, old: [] }));
    assert.deepEqual(d, { start: 2, stop: [], done: false });
  });
});
