import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import {
  backoffDelay,
  FrameworkRemovedError,
  FrameworkSdkError,
  hasCode,
  SchedulerCallError,
  toSchedulerCallError,
} from "../../framework-sdk/index.js";

describe("toSchedulerCallError", () => {
  test("a gRPC error keeps its code and the master's details", () => {
    const grpcErr = Object.assign(new Error("5 NOT_FOUND: offer offer-9 is unknown or expired"), {
      code: status.NOT_FOUND,
      details: "offer offer-9 is unknown or expired",
      metadata: new Metadata(),
    });
    const err = toSchedulerCallError("Accept", grpcErr);
    assert.ok(err instanceof SchedulerCallError);
    assert.ok(err instanceof FrameworkSdkError);
    assert.equal(err.code, status.NOT_FOUND);
    assert.equal(err.details, "offer offer-9 is unknown or expired");
    assert.equal(err.message, "Accept failed: offer offer-9 is unknown or expired (NOT_FOUND)");
    assert.equal(err.cause, grpcErr);
    assert.equal(err.name, "SchedulerCallError");
    assert.ok(hasCode(err, status.NOT_FOUND));
    assert.ok(hasCode(grpcErr, status.NOT_FOUND));
    assert.ok(!hasCode(err, status.ABORTED));
  });

  test("anything else becomes UNKNOWN and the mapping is idempotent", () => {
    const err = toSchedulerCallError("Kill", new Error("socket hang up"));
    assert.equal(err.code, status.UNKNOWN);
    assert.equal(err.details, "socket hang up");
    assert.equal(toSchedulerCallError("Other", err), err);
  });

  test("FrameworkRemovedError names the framework", () => {
    const err = new FrameworkRemovedError("fw-1", "unknown framework fw-1");
    assert.equal(err.frameworkId, "fw-1");
    assert.match(err.message, /framework fw-1 is unknown to the master/);
  });
});

describe("backoffDelay", () => {
  test("doubles from 200 ms up to 5 s, jitter within ±20%", () => {
    const mid = () => 0.5;
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 20].map((a) => backoffDelay(a, {}, mid)),
      [200, 400, 800, 1600, 3200, 5000, 5000, 5000],
    );
    assert.equal(
      backoffDelay(0, {}, () => 0),
      160,
    );
    assert.equal(
      backoffDelay(0, {}, () => 1),
      240,
    );
    assert.equal(
      backoffDelay(10, {}, () => 1),
      5000,
    );
  });
});
