// The task state machine: a terminal state is final, everything else may move; and which
// ends are the infrastructure's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Reason } from "../../common/reasons.js";
import { canTransition, isInfrastructureLoss, isTerminal, TaskState } from "../../common/task-states.js";

const S = TaskState;
const TERMINAL = [S.TASK_FINISHED, S.TASK_FAILED, S.TASK_KILLED, S.TASK_LOST, S.TASK_ERROR];
const LIVE = [S.TASK_STAGING, S.TASK_STARTING, S.TASK_RUNNING, S.TASK_KILLING, S.TASK_UNREACHABLE];

describe("task states", () => {
  test("terminal states are exactly FINISHED, FAILED, KILLED, LOST, ERROR", () => {
    for (const s of TERMINAL) assert.equal(isTerminal(s), true, S[s]);
    for (const s of LIVE) assert.equal(isTerminal(s), false, S[s]);
  });

  test("a terminal state never changes, not even to a second copy of itself", () => {
    for (const from of TERMINAL) {
      for (const to of [...TERMINAL, ...LIVE]) {
        assert.equal(canTransition(from, to), false, `${S[from]} -> ${S[to]}`);
      }
    }
  });

  test("the cases of issue 9: LOST then FINISHED, LOST then KILLED are refused", () => {
    assert.equal(canTransition(S.TASK_LOST, S.TASK_FINISHED), false);
    assert.equal(canTransition(S.TASK_LOST, S.TASK_KILLED), false);
  });

  test("a live task may take any update, and UNREACHABLE comes back to its real state", () => {
    for (const from of LIVE) {
      for (const to of [...TERMINAL, ...LIVE]) {
        assert.equal(canTransition(from, to), true, `${S[from]} -> ${S[to]}`);
      }
    }
    assert.equal(canTransition(S.TASK_UNREACHABLE, S.TASK_RUNNING), true);
    assert.equal(canTransition(S.TASK_UNREACHABLE, S.TASK_FINISHED), true);
  });

  test("infrastructure loss: unreachable, gone, vanished with its agent, drained, disk pressure", () => {
    const cases: [TaskState, string, boolean][] = [
      [S.TASK_UNREACHABLE, Reason.AGENT_UNREACHABLE, true],
      [S.TASK_LOST, Reason.AGENT_GONE, true],
      [S.TASK_LOST, Reason.TASK_GONE, true],
      [S.TASK_KILLED, Reason.AGENT_DRAINED, true],
      [S.TASK_FAILED, Reason.DISK_PRESSURE, true],
      [S.TASK_FAILED, Reason.INSUFFICIENT_DISK, false],
      [S.TASK_FAILED, Reason.FETCH_FAILED, false],
      [S.TASK_FAILED, Reason.COMMAND_EXITED, false],
      [S.TASK_FAILED, Reason.MEMORY_LIMIT, false],
      [S.TASK_FAILED, Reason.LAUNCH_FAILED, false],
      [S.TASK_KILLED, Reason.KILL_REQUESTED, false],
      [S.TASK_FINISHED, "", false],
    ];
    for (const [state, reason, want] of cases) {
      assert.equal(isInfrastructureLoss({ state, reason }), want, `${S[state]} ${reason}`);
    }
  });
});
