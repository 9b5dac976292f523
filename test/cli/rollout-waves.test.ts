import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { waveLine } from "../../cli/commands/deploy-client.js";
import type { Deployment, StagingWave } from "../../proto/gen/yard/v1/deploy.js";

const wave = (step: number, through: number, w: Partial<StagingWave>): StagingWave => ({
  step,
  through,
  state: "DONE",
  agents: 25,
  agentsDone: 25,
  downloaded: 0,
  size: 0,
  startedAt: 0,
  doneAt: 0,
  waited: false,
  doneInStep: 0,
  fetches: [],
  ...w,
});

const dep = (step: number, waves: StagingWave[], d: Partial<Deployment> = {}): Deployment => ({
  id: "web-2",
  fromRevision: 1,
  toRevision: 2,
  state: "RUNNING",
  step,
  steps: 4,
  stepTargets: [1, 10, 50, 100],
  message: "",
  startedAt: 0,
  endedAt: 0,
  staging: undefined,
  rollingBack: false,
  failure: "",
  failures: 0,
  stageMode: "next",
  waves,
  ...d,
});

describe("rollout status: the staging of the next wave", () => {
  test("the issue's example: step 3 of 4 runs while the next wave stages", () => {
    const d = dep(3, [
      wave(1, 1, { agents: 1, agentsDone: 1 }),
      wave(2, 2, { agents: 0, agentsDone: 0 }),
      wave(3, 3, {}),
      wave(4, 4, { state: "STAGING", agentsDone: 18, downloaded: 61, size: 100 }),
    ]);
    assert.equal(waveLine(d, 25), "step 3/4: 25 running, next wave staging 18/25 agents, 61 %");
  });

  test("done ahead of its step", () => {
    const d = dep(3, [wave(1, 1, {}), wave(2, 2, {}), wave(3, 3, {}), wave(4, 4, {})]);
    assert.equal(waveLine(d, 50), "step 3/4: 50 running, next wave staged on 25/25 agents");
  });

  test("a step that waits for its own wave says so", () => {
    const d = dep(2, [
      wave(1, 1, {}),
      wave(2, 2, { state: "STAGING", agentsDone: 5, downloaded: 1, size: 4 }),
    ]);
    assert.equal(waveLine(d, 1), "step 2/4: 1 running, this step's wave staging 5/25 agents, 25 %");
  });

  test("stage: all, a rollback, an ended deployment", () => {
    assert.equal(
      waveLine(dep(2, [wave(1, 4, {})], { stageMode: "all" }), 10),
      "step 2/4: 10 running, next step's agents staged before step 1 (stage: all)",
    );
    assert.equal(waveLine(dep(2, [wave(1, 1, {})], { rollingBack: true }), 10), "");
    assert.equal(waveLine(dep(4, [wave(1, 1, {})], { state: "SUCCEEDED" }), 100), "");
  });
});
