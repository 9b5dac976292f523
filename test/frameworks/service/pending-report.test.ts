// The service framework's pending report: apps that want launches, apps held back by a
// backoff (backed_off, with the time of the next try), and a `since` that stays put while the
// app keeps waiting.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PendingTally } from "../../../framework-sdk/index.js";
import type { AppBook } from "../../../frameworks/service/app-book.js";
import { PendingReport } from "../../../frameworks/service/pending-report.js";
import type { SchedulerState } from "../../../frameworks/service/scheduler-state.js";

describe("PendingReport", () => {
  test("wanting and backed-off apps are reported; placed ones are not", () => {
    let now = 1000;
    const spec = { resources: { cpus: 2, mem: 64, disk: 0, ports: 0 } };
    const book = {
      revisions: new Map([
        ["web", [{ number: 3, spec }]],
        ["api", [{ number: 1, spec }]],
      ]),
      activeDeployment: () => undefined,
      apps: new Map([["api", { revision: 1 }]]),
    } as unknown as AppBook;
    const state = {
      book,
      wants: new Map([["web", { revision: 3, count: 2 }]]),
      heldBack: new Map([
        ["api", { count: 1, until: 1060, why: "3 instance(s) in a row failed; crash-loop backoff" }],
      ]),
      misfits: new PendingTally(),
      now: () => now,
    } as unknown as SchedulerState;
    state.misfits.misfit("app", "web", "constraint", "zone LIKE z9");
    const r = new PendingReport(state);
    const [web, api] = r.build();
    assert.equal(web!.name, "web");
    assert.equal(web!.waiting, 2);
    assert.equal(web!.needs?.cpus, 2);
    assert.deepEqual(web!.reasons, [{ code: "constraint", offers: 1, detail: "zone LIKE z9" }]);
    assert.equal(api!.reasons[0]!.code, "backed_off");
    assert.match(api!.reasons[0]!.detail, /crash-loop backoff; next try at 1970-01-01T00:17:40\.000Z/);
    assert.match(api!.message, /^launches held back until 1970-01-01T00:17:40\.000Z/);
    // Still waiting later: the same `since`. Placed: gone from the report.
    now = 1010;
    assert.equal(r.build()[0]!.since, 1000);
    state.wants.clear();
    state.heldBack.clear();
    assert.deepEqual(r.build(), []);
    state.wants.set("web", { revision: 3, count: 1 });
    assert.equal(r.build()[0]!.since, 1010, "waiting again starts a new wait");
  });
});
