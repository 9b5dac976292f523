// PendingReporter: the master hears only changes, one call at a time, the latest state winning,
// and everything again after a re-subscription; a failed call is retried at the next change.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "../../common/logger.js";
import { PendingReporter } from "../../framework-sdk/pending-reporter.js";
import type { PendingWork } from "../../proto/gen/yard/v1/common.js";
import { waitFor } from "../cluster/harness.js";

const unit = (name: string, waiting: number): PendingWork => ({
  kind: "app",
  name,
  taskIds: [],
  waiting,
  needs: undefined,
  reasons: [],
  since: 0,
  message: "",
});

describe("PendingReporter", () => {
  test("changes only, coalesced, the latest winning; again after resend; nothing while not ready", async () => {
    const sent: string[] = [];
    let ready = false;
    let fail = false;
    let attempts = 0;
    const r = new PendingReporter(
      async (work) => {
        attempts++;
        if (fail) throw new Error("master away");
        sent.push(work.map((w) => `${w.name}:${w.waiting}`).join(","));
      },
      () => ready,
      silentLogger,
      20,
    );
    r.set([unit("web", 3)]);
    assert.deepEqual(sent, [], "nothing is sent before the subscription");
    ready = true;
    r.resend();
    await waitFor("the first report", () => sent.length === 1);
    // Three changes within the interval: only the last is sent, once.
    r.set([unit("web", 2)]);
    r.set([unit("web", 1)]);
    r.set([unit("web", 1), unit("api", 4)]);
    await waitFor("the coalesced report", () => sent.length === 2);
    // The same state again is no change; an empty list is one.
    r.set([unit("web", 1), unit("api", 4)]);
    r.set([]);
    await waitFor("the empty report", () => sent.length === 3);
    assert.deepEqual(sent, ["web:3", "web:1,api:4", ""]);
    // A re-subscription sends the state again, unchanged as it is.
    r.resend();
    await waitFor("the state sent again", () => sent.length === 4);
    // A failure is retried at the next change.
    fail = true;
    const before = attempts;
    r.set([unit("web", 9)]);
    await waitFor("the failed attempt", () => attempts === before + 1);
    fail = false;
    r.set([unit("web", 8)]);
    await waitFor("the report after the failure", () => sent.length === 5);
    assert.equal(sent[4], "web:8");
    r.stop();
  });
});
