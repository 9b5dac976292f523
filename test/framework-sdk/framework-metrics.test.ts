import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { FrameworkMetrics, TaskState } from "../../framework-sdk/index.js";

describe("FrameworkMetrics", () => {
  test("counts outcomes and times decisions from each offer's arrival", async () => {
    let now = 1000;
    const m = new FrameworkMetrics(undefined, {}, () => now);
    m.offersReceived(["o1", "o2", "o3"]);
    now = 1500;
    m.offersDecided(["o1"], "accepted");
    now = 3000;
    m.offersDecided(["o2"], "declined");
    m.offersDecided(["o3"], "rescinded");
    m.offersDecided(["o1"], "rescinded"); // answered already: not counted again
    m.updateReceived(TaskState.TASK_RUNNING);
    m.reconnected();
    const text = await m.registry.metrics();
    assert.match(text, /yard_framework_offers_received_total 3/);
    assert.match(text, /yard_framework_offers_total\{outcome="accepted"\} 1/);
    assert.match(text, /yard_framework_offers_total\{outcome="declined"\} 1/);
    assert.match(text, /yard_framework_offers_total\{outcome="rescinded"\} 1/);
    assert.match(text, /yard_framework_offer_decision_seconds_sum\{outcome="accepted"\} 0.5/);
    assert.match(text, /yard_framework_offer_decision_seconds_sum\{outcome="declined"\} 2/);
    assert.match(text, /yard_framework_status_updates_total\{state="RUNNING"\} 1/);
    assert.match(text, /yard_framework_reconnects_total 1/);
  });
});
