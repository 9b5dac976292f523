import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { jobOutcome } from "../../cli/job-outcome.js";
import { shellCommand, shellQuote } from "../../cli/shell.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { Job } from "../../proto/gen/yard/v1/batch.js";

describe("shellCommand", () => {
  test("one argument is a shell line as it is", () => {
    assert.equal(shellCommand(["echo $HOME | wc -c"]), "echo $HOME | wc -c");
  });
  test("several arguments are quoted word by word", () => {
    assert.equal(shellCommand(["echo", "hi"]), "echo hi");
    assert.equal(shellCommand(["sh", "-c", "exit 3"]), "sh -c 'exit 3'");
    assert.equal(shellCommand(["printf", "%s\n", "it's"]), "printf '%s\n' 'it'\\''s'");
    assert.equal(shellQuote(""), "''");
  });
});

describe("jobOutcome", () => {
  const job = (state: string, tasks: object[], message = "") =>
    Job.fromPartial({ id: "job-1", state, tasks: tasks as never, message });

  test("a job that succeeded exits 0", () => {
    assert.deepEqual(
      jobOutcome(job("SUCCEEDED", [{ index: 0, state: TaskState.TASK_FINISHED, exitCode: 0 }])),
      {
        exitCode: 0,
      },
    );
  });

  test("a task that exited non-zero gives its code, without a message", () => {
    const out = jobOutcome(
      job("FAILED", [
        { index: 1, taskId: "t1", state: TaskState.TASK_FAILED, exitCode: 7 },
        { index: 0, taskId: "t0", state: TaskState.TASK_FAILED, exitCode: 3 },
      ]),
    );
    assert.deepEqual(out, { exitCode: 3, message: undefined });
  });

  test("killed or lost: exit 1 and the reason", () => {
    const lost = jobOutcome(
      job("FAILED", [{ index: 0, taskId: "t0", state: TaskState.TASK_LOST, message: "agent lost" }]),
    );
    assert.deepEqual(lost, { exitCode: 1, message: "task t0 lost: agent lost" });
    const killed = jobOutcome(
      job(
        "KILLED",
        [{ index: 0, taskId: "t0", state: TaskState.TASK_RUNNING, exitCode: 143 }],
        "killed on request",
      ),
    );
    assert.deepEqual(killed, { exitCode: 1, message: "job job-1 was killed: killed on request" });
  });
});
