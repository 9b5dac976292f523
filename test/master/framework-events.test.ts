// A framework's events and its pending reports as they join the cluster's event stream.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../common/errors.js";
import { validateFrameworkEvents } from "../../master/framework-events.js";
import { pendingChanges } from "../../master/pending-reports.js";
import type { PendingWork } from "../../proto/gen/yard/v1/common.js";

const ev = (type: string, message = "") => ({ type, object: "app/web", message, taskId: "", agentId: "" });

describe("framework events", () => {
  test("the master's own types and bad names are refused, naming the field and the value", () => {
    const cases: [string, RegExp][] = [
      ["TASK_UPDATED", /^events\[0\]\.type: "TASK_UPDATED": TASK_\* types are the master's own$/],
      ["AUDIT", /^events\[0\]\.type: "AUDIT": AUDIT\* types are the master's own$/],
      ["WORK_PLACED", /^events\[0\]\.type: "WORK_PLACED": WORK_\* types are the master's own$/],
      ["deployment-started", /^events\[0\]\.type: "deployment-started" is not UPPER_SNAKE_CASE/],
    ];
    for (const [type, message] of cases) {
      assert.throws(
        () => validateFrameworkEvents([ev(type)]),
        (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
      );
    }
    assert.throws(
      () => validateFrameworkEvents([ev("OK"), ev("OK", "x".repeat(501))]),
      /events\[1\]\.message: 501 characters/,
    );
    assert.throws(
      () => validateFrameworkEvents(Array.from({ length: 101 }, () => ev("OK"))),
      /events: 101 events; at most 100/,
    );
    validateFrameworkEvents([ev("DEPLOYMENT_RUNNING"), ev("STEP_STARTED")]);
  });

  test("pending reports: new and changed reasons are WORK_PENDING, gone units WORK_PLACED, counts alone nothing", () => {
    const w = (name: string, waiting: number, code?: string): PendingWork => ({
      kind: "app",
      name,
      taskIds: [],
      waiting,
      needs: undefined,
      reasons: code ? [{ code, offers: 1, detail: "d" }] : [],
      since: 0,
      message: "",
    });
    assert.deepEqual(pendingChanges([], [w("web", 2, "insufficient_cpus")]), [
      { type: "WORK_PENDING", object: "app/web", message: "2 task(s) wait: insufficient_cpus: d" },
    ]);
    assert.deepEqual(
      pendingChanges([w("web", 2, "insufficient_cpus")], [w("web", 1, "insufficient_cpus")]),
      [],
    );
    assert.deepEqual(
      pendingChanges([w("web", 1, "insufficient_cpus"), w("api", 1)], [w("web", 1, "constraint")]).map(
        (e) => [e.type, e.object],
      ),
      [
        ["WORK_PENDING", "app/web"],
        ["WORK_PLACED", "app/api"],
      ],
    );
  });
});
