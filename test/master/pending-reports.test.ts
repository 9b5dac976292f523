// ReportPending's bounds: a bad report is refused whole, naming the field and the value.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../common/errors.js";
import { PendingReports, validatePendingWork } from "../../master/pending-reports.js";
import type { PendingWork } from "../../proto/gen/yard/v1/common.js";

const work = (over: Partial<PendingWork> = {}): PendingWork => ({
  kind: "app",
  name: "web",
  taskIds: [],
  waiting: 1,
  needs: undefined,
  reasons: [],
  since: 0,
  message: "",
  ...over,
});

describe("pending reports", () => {
  test("bad fields are named with their value", () => {
    const cases: [PendingWork[], RegExp][] = [
      [[work({ kind: "pod" })], /^work\[0\]\.kind: "pod" is not one of app, job$/],
      [[work(), work({ name: "" })], /^work\[1\]\.name: is required$/],
      [
        [work({ taskIds: Array.from({ length: 101 }, (_, i) => `t${i}`) })],
        /^work\[0\]\.task_ids: 101 ids; at most 100$/,
      ],
      [
        [work({ reasons: [{ code: "", offers: 1, detail: "" }] })],
        /^work\[0\]\.reasons\[0\]\.code: is required$/,
      ],
      [[work({ message: "x".repeat(501) })], /^work\[0\]\.message: 501 characters; at most 500$/],
      [Array.from({ length: 1001 }, () => work()), /^work: 1001 entries; at most 1000$/],
    ];
    for (const [w, message] of cases) {
      assert.throws(
        () => validatePendingWork(w),
        (err: unknown) => err instanceof InvalidArgumentError && message.test(err.message),
      );
    }
  });

  test("found by name or by task id; a report replaces the last; forget drops it", () => {
    const p = new PendingReports();
    p.report("fw-1", [work({ taskIds: ["web.1.a"] }), work({ kind: "job", name: "j" })], 1000);
    p.report("fw-2", [work({ name: "api" })], 2000);
    assert.deepEqual(
      p.find("task", "web.1.a").map((h) => [h.frameworkId, h.work.name]),
      [["fw-1", "web"]],
    );
    assert.equal(p.find("app", "api")[0]!.frameworkId, "fw-2");
    assert.equal(p.find("app", "api", "fw-1").length, 0);
    p.report("fw-1", [], 3000);
    assert.equal(p.find("app", "web").length, 0);
    p.forget("fw-2");
    assert.equal(p.of("fw-2"), undefined);
  });
});
