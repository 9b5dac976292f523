// RolloutEvents: the service framework's events come from comparing the book with what it last
// saw: each change told once, nothing told twice, and a restart does not replay history.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type InstanceSeen, RolloutEvents } from "../../../frameworks/service/rollout-events.js";
import type { DeploymentRecord, WaveRecord } from "../../../frameworks/service/service-state.js";

function dep(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    id: "d1",
    app: "web",
    fromRevision: 1,
    toRevision: 2,
    state: "RUNNING",
    paused: false,
    rollingBack: false,
    step: 0,
    stepDoneAt: 0,
    lastProgressAt: 0,
    bestReady: 0,
    failures: 0,
    message: "",
    failure: "",
    startedAt: 0,
    endedAt: 0,
    staging: [],
    stagingComplete: true,
    ...over,
  };
}

function wave(step: number, state: WaveRecord["state"], done: number, of: number): WaveRecord {
  return {
    step,
    through: step,
    state,
    agents: Array.from({ length: of }, (_, i) => ({
      agentId: `a${i}`,
      hostname: `h${i}`,
      state: i < done ? "DONE" : "FETCHING",
      downloaded: 0,
      size: 1,
      error: "",
    })),
    startedAt: 0,
    doneAt: 0,
    doneInStep: 0,
    doneAfterStepDone: false,
    waited: false,
  };
}

const steps = () => 4;
const types = (events: { type: string }[]) => events.map((e) => e.type);

describe("RolloutEvents", () => {
  test("a restart tells of deployments under way only; instances' health is taken as it stands", () => {
    const ev = new RolloutEvents();
    const inst: InstanceSeen[] = [{ taskId: "t1", app: "web", agentId: "a1", health: "healthy" }];
    const first = ev.changes([dep(), dep({ id: "d0", app: "api", state: "SUCCEEDED" })], inst, steps);
    assert.deepEqual(types(first), ["DEPLOYMENT_RUNNING"]);
    assert.match(first[0]!.message!, /^deployment d1 of web \(revision 1 → 2\): RUNNING$/);
    assert.deepEqual(ev.changes([dep()], inst, steps), [], "nothing changed, nothing told");
  });

  test("a step, a wave's progress and a state are each told once", () => {
    const ev = new RolloutEvents();
    ev.changes([dep({ waves: [wave(0, "DONE", 2, 2), wave(1, "STAGING", 0, 3)] })], [], steps);
    const moved = ev.changes(
      [dep({ step: 1, waves: [wave(0, "DONE", 2, 2), wave(1, "STAGING", 2, 3)] })],
      [],
      steps,
    );
    assert.deepEqual(types(moved), ["STEP_STARTED", "STAGING_PROGRESS"]);
    assert.equal(moved[0]!.message, "deployment d1 of web: step 2 of 4");
    assert.equal(
      moved[1]!.message,
      "deployment d1 of web: release staged on 2 of 3 agent(s) for step 2 (STAGING)",
    );
    const ended = ev.changes([dep({ step: 3, state: "SUCCEEDED", message: "done" })], [], steps);
    assert.deepEqual(types(ended), ["DEPLOYMENT_SUCCEEDED"]);
    assert.equal(ended[0]!.object, "app/web");
  });

  test("health verdicts: healthy, unhealthy, healthy again; unknown is no verdict", () => {
    const ev = new RolloutEvents();
    const at = (health: InstanceSeen["health"]) => [{ taskId: "t1", app: "web", agentId: "a1", health }];
    ev.changes([], [], steps);
    assert.deepEqual(ev.changes([], at("unknown"), steps), []);
    assert.deepEqual(types(ev.changes([], at("healthy"), steps)), ["INSTANCE_HEALTHY"]);
    const down = ev.changes([], at("unhealthy"), steps);
    assert.deepEqual(types(down), ["INSTANCE_UNHEALTHY"]);
    assert.equal(down[0]!.taskId, "t1");
    assert.deepEqual(types(ev.changes([], at("healthy"), steps)), ["INSTANCE_HEALTHY"]);
  });
});
