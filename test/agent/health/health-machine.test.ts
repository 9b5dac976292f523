// The health state machine, table-driven: a policy, a run of probe results at given times
// (ms after the task started), the verdicts after each.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  HealthCheckError,
  type HealthPolicy,
  healthPolicy,
  nextHealth,
  unknownHealth,
} from "../../../agent/health/health-machine.js";
import { HealthCheck, HealthState } from "../../../proto/gen/yard/v1/common.js";

const U = HealthState.HEALTH_UNKNOWN;
const H = HealthState.HEALTH_HEALTHY;
const X = HealthState.HEALTH_UNHEALTHY;

const policy: HealthPolicy = { kind: "tcp", intervalMs: 1000, timeoutMs: 500, graceMs: 5000, failures: 3 };

/** "+" passes, "-" fails; `[result, atMs]` pairs; returns [state, consecutive failures] after each. */
function run(steps: [string, number][], p: HealthPolicy = policy): [HealthState, number][] {
  let h = unknownHealth();
  return steps.map(([r, at]) => {
    h = nextHealth(h, p, { ok: r === "+", message: r === "+" ? "connected" : "refused" }, at, 0);
    return [h.state, h.consecutiveFailures];
  });
}

describe("health state machine", () => {
  const cases: { name: string; steps: [string, number][]; want: [HealthState, number][] }[] = [
    { name: "a first pass makes it healthy", steps: [["+", 100]], want: [[H, 0]] },
    {
      name: "failures inside the grace period before any pass are ignored",
      steps: [
        ["-", 100],
        ["-", 1100],
        ["-", 2100],
        ["-", 3100],
        ["+", 4100],
      ],
      want: [
        [U, 0],
        [U, 0],
        [U, 0],
        [U, 0],
        [H, 0],
      ],
    },
    {
      name: "after the grace period failures count; the threshold makes it unhealthy",
      steps: [
        ["-", 5000],
        ["-", 6000],
        ["-", 7000],
        ["-", 8000],
      ],
      want: [
        [U, 1],
        [U, 2],
        [X, 3],
        [X, 4],
      ],
    },
    {
      name: "a pass ends the grace period for good: later failures count at once",
      steps: [
        ["+", 100],
        ["-", 1100],
        ["-", 2100],
        ["-", 3100],
      ],
      want: [
        [H, 0],
        [H, 1],
        [H, 2],
        [X, 3],
      ],
    },
    {
      name: "a pass resets the count; unhealthy turns healthy again",
      steps: [
        ["+", 100],
        ["-", 1100],
        ["+", 2100],
        ["-", 3100],
        ["-", 4100],
        ["-", 5100],
        ["+", 6100],
      ],
      want: [
        [H, 0],
        [H, 1],
        [H, 0],
        [H, 1],
        [H, 2],
        [X, 3],
        [H, 0],
      ],
    },
  ];
  for (const c of cases) {
    test(c.name, () => assert.deepEqual(run(c.steps), c.want));
  }

  test("failures: 1 turns unhealthy at the first counted failure", () => {
    assert.deepEqual(
      run(
        [
          ["+", 0],
          ["-", 10],
        ],
        { ...policy, failures: 1 },
      ),
      [
        [H, 0],
        [X, 1],
      ],
    );
  });

  test("a verdict records the last check's time and what a failure said", () => {
    const p = { ...policy, graceMs: 0 };
    const h = nextHealth(unknownHealth(), p, { ok: false, message: "HTTP 503" }, 2500, 0);
    assert.deepEqual(h, { state: U, consecutiveFailures: 1, lastCheck: 2.5, message: "HTTP 503" });
    const ok = nextHealth(h, p, { ok: true, message: "HTTP 200" }, 3500, 0);
    assert.deepEqual(ok, { state: H, consecutiveFailures: 0, lastCheck: 3.5, message: "" });
  });

  test("policy: zeros take the defaults, bad fields are named", () => {
    assert.deepEqual(healthPolicy(HealthCheck.fromPartial({ kind: "http", httpPath: "/" })), {
      kind: "http",
      intervalMs: 10_000,
      timeoutMs: 1000,
      graceMs: 0,
      failures: 3,
    });
    assert.deepEqual(
      healthPolicy(
        HealthCheck.fromPartial({
          kind: "command",
          command: "true",
          intervalSeconds: 0.5,
          timeoutSeconds: 2,
          gracePeriodSeconds: 4,
          failures: 1,
        }),
      ),
      { kind: "command", intervalMs: 500, timeoutMs: 2000, graceMs: 4000, failures: 1 },
    );
    const bad: [Partial<HealthCheck>, RegExp][] = [
      [{ kind: "grpc" }, /^health_check\.kind: "grpc" is not one of http, tcp, command$/],
      [{ kind: "command", command: " " }, /^health_check\.command: is empty$/],
      [{ kind: "tcp", intervalSeconds: -1 }, /^health_check\.interval_seconds: -1 is not/],
      [{ kind: "tcp", timeoutSeconds: Number.NaN }, /^health_check\.timeout_seconds: NaN is not/],
    ];
    for (const [hc, re] of bad) {
      assert.throws(
        () => healthPolicy(HealthCheck.fromPartial(hc)),
        (e: unknown) => {
          assert.ok(e instanceof HealthCheckError);
          assert.match(e.message, re);
          return true;
        },
      );
    }
  });
});
