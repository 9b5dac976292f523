// When the master declares an agent unreachable or gone, and how a stall of the master is
// told from an agent's silence. Pure rules, times in ms.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type AgentClock, agentVerdict, freshClock, stallMs } from "../../master/agent-liveness.js";

const T = { agentTimeoutMs: 15_000, agentGoneTimeoutMs: 300_000 };

describe("agent liveness", () => {
  test("an active or disconnected agent is unreachable once silent past the agent timeout", () => {
    for (const status of ["ACTIVE", "DISCONNECTED"] as const) {
      assert.equal(agentVerdict({ status, lastSeenMs: 0 }, 15_000, T), undefined, status);
      assert.equal(agentVerdict({ status, lastSeenMs: 0 }, 15_001, T), "unreachable", status);
    }
  });

  test("an unreachable agent is gone only past the gone timeout, counted from unreachability", () => {
    const a: AgentClock = { status: "UNREACHABLE", lastSeenMs: 0, unreachableSinceMs: 15_001 };
    assert.equal(agentVerdict(a, 100_000, T), undefined);
    assert.equal(agentVerdict(a, 315_001, T), undefined);
    assert.equal(agentVerdict(a, 315_002, T), "gone");
  });

  test("a lost agent is never declared again", () => {
    assert.equal(agentVerdict({ status: "LOST", lastSeenMs: 0 }, 10_000_000, T), undefined);
  });

  test("a late tick within a third of the agent timeout is no stall; a longer one is", () => {
    assert.equal(stallMs(0, 500, 500, 15_000), 0);
    assert.equal(stallMs(0, 5_500, 500, 15_000), 0);
    assert.equal(stallMs(0, 22_500, 500, 15_000), 22_000);
  });

  test("after a stall every agent's clocks restart, the lost ones excepted", () => {
    const active: AgentClock = { status: "ACTIVE", lastSeenMs: 1_000 };
    const unreachable: AgentClock = { status: "UNREACHABLE", lastSeenMs: 1_000, unreachableSinceMs: 20_000 };
    const lost: AgentClock = { status: "LOST", lastSeenMs: 1_000 };
    for (const a of [active, unreachable, lost]) freshClock(a, 40_000);
    assert.deepEqual(active, { status: "ACTIVE", lastSeenMs: 40_000 });
    assert.deepEqual(unreachable, { status: "UNREACHABLE", lastSeenMs: 40_000, unreachableSinceMs: 40_000 });
    assert.deepEqual(lost, { status: "LOST", lastSeenMs: 1_000 });
    // The agent that was silent for 39 s before the stall is not declared at the resume.
    assert.equal(agentVerdict(active, 40_500, T), undefined);
  });
});
