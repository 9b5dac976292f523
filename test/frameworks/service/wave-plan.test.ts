import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Offer } from "../../../framework-sdk/index.js";
import { parseAppSpec, SpecError, stageModeOf } from "../../../frameworks/service/app-spec.js";
import type { AgentView } from "../../../frameworks/service/constraints.js";
import { LocalityHold } from "../../../frameworks/service/locality-hold.js";
import { placeOnOffer } from "../../../frameworks/service/offer-placement.js";
import { stepTargets } from "../../../frameworks/service/rollout-plan.js";
import { nextWave, waveSizes } from "../../../frameworks/service/wave-plan.js";

const agents = (...names: string[]): AgentView[] =>
  names.map((n) => ({ agentId: `id-${n}`, hostname: n, attributes: {} }));

describe("waveSizes: agents holding the release once each step's wave is done", () => {
  const cases: [string, number[], number, number, number[]][] = [
    ["100 instances, [1, 10%, 50%, 100%], 10 agents", [1, 10, 50, 100], 100, 10, [1, 1, 5, 10]],
    ["3 instances one per step, 4 agents", [1, 2, 3], 3, 4, [2, 3, 4]],
    ["more steps than agents", [1, 2, 3, 4], 4, 2, [1, 1, 2, 2]],
    ["one step: every agent before it", [5], 5, 3, [3]],
    ["no agent known", [1, 2], 2, 0, [0, 0]],
  ];
  for (const [name, targets, n, e, want] of cases) {
    test(name, () => assert.deepEqual(waveSizes(targets, n, e), want));
  }

  test("the issue's rollout: stepTargets in, waves proportional to them out", () => {
    const targets = stepTargets([{ count: 1 }, { percent: 25 }, { percent: 50 }, { percent: 100 }], 100);
    assert.deepEqual(targets, [1, 25, 50, 100]);
    assert.deepEqual(waveSizes(targets, 100, 20), [1, 5, 10, 20]);
  });
});

describe("nextWave: which agents the wave stages", () => {
  const eligible = agents("c", "a", "d", "b");

  test("the first by hostname, as many as the wave adds", () => {
    assert.deepEqual(nextWave({ eligible, staged: new Set(), holders: new Set(), size: 2 }), [
      "id-a",
      "id-b",
    ]);
  });

  test("agents of earlier waves are not staged again and count towards the size", () => {
    assert.deepEqual(nextWave({ eligible, staged: new Set(["id-a", "id-b"]), holders: new Set(), size: 3 }), [
      "id-c",
    ]);
  });

  test("agents that already hold the release come first (they cost nothing)", () => {
    assert.deepEqual(nextWave({ eligible, staged: new Set(), holders: new Set(["id-d"]), size: 2 }), [
      "id-d",
      "id-a",
    ]);
  });

  test("a wave no larger than the staged agents is empty", () => {
    assert.deepEqual(nextWave({ eligible, staged: new Set(["id-a"]), holders: new Set(), size: 1 }), []);
  });

  test("an earlier wave's agent that is no longer eligible does not count", () => {
    assert.deepEqual(
      nextWave({ eligible: agents("a", "b"), staged: new Set(["id-gone"]), holders: new Set(), size: 1 }),
      ["id-a"],
    );
  });
});

describe("rollout.stage in the spec", () => {
  const base = "name: a\ncommand: x\n";
  test("next by default, all when asked", () => {
    assert.equal(stageModeOf(parseAppSpec(base).rollout), "next");
    assert.equal(parseAppSpec(base).rollout.stage, undefined, "unset stays unset: old specs compare equal");
    assert.equal(stageModeOf(parseAppSpec(`${base}rollout: { stage: all }\n`).rollout), "all");
    assert.equal(stageModeOf(parseAppSpec(`${base}rollout: { stage: next }\n`).rollout), "next");
  });

  test("another value is refused naming the field and the value", () => {
    assert.throws(
      () => parseAppSpec(`${base}rollout: { stage: first }\n`),
      (err: unknown) =>
        err instanceof SpecError &&
        err.problems.includes('rollout.stage: "first" is not a staging mode (next, all)'),
    );
  });
});

describe("LocalityHold: delay scheduling towards agents holding the release", () => {
  test("an agent that holds the release is never held off", () => {
    assert.equal(new LocalityHold(3).hold("web", true, 100), false);
  });

  test("one without it waits up to the wait, counted from the first skip", () => {
    const h = new LocalityHold(3);
    assert.equal(h.hold("web", false, 100), true);
    assert.equal(h.hold("web", false, 102.9), true);
    assert.equal(h.hold("web", false, 103), false);
  });

  test("a placement starts the wait afresh; so do wants that ended", () => {
    const h = new LocalityHold(3);
    h.hold("web", false, 100);
    h.reset("web");
    assert.equal(h.hold("web", false, 110), true);
    h.keepOnly(new Set());
    assert.equal(h.hold("web", false, 200), true);
    assert.equal(h.hold("web", false, 203.5), false);
  });
});

describe("placeOnOffer with a hold", () => {
  const offer: Offer = {
    id: "o1",
    frameworkId: "fw",
    agentId: "a1",
    hostname: "host-1",
    resources: { cpus: 4, mem: 1024, disk: 0, ports: [{ begin: 100, end: 110 }] },
    attributes: [],
    executors: ["process"],
    releases: [],
  };
  const agent: AgentView = { agentId: "a1", hostname: "host-1", attributes: {} };
  const spec = parseAppSpec("name: web\nrelease: web@2\ncommand: x\ninstances: 2\n");
  const place = (holdOff: boolean) => {
    const wants = new Map([["web", { revision: 2, count: 2 }]]);
    const out = placeOnOffer({
      offer,
      agent,
      wants,
      specOf: () => spec,
      placedOf: () => [],
      known: [agent],
      now: 1,
      newTaskId: (app, rev) => `${app}.${rev}`,
      holdOff: () => holdOff,
    });
    return { placed: out.tasks.length, left: wants.get("web")!.count };
  };

  test("held off: nothing placed, the want kept for another offer", () => {
    assert.deepEqual(place(true), { placed: 0, left: 2 });
  });

  test("not held: placed as usual", () => {
    assert.deepEqual(place(false), { placed: 2, left: 0 });
  });
});
