// The agent checkpoint's combined writes: a task with its first update, the executor's state
// with RUNNING, and acks; all read back by a fresh process's view of the same file.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { Checkpoint, type CheckpointedTask } from "../../agent/checkpoint.js";
import { TaskInfo, TaskState, type TaskStatus } from "../../proto/gen/yard/v1/common.js";
import { tempDir } from "./helpers.js";

function status(taskId: string, state: TaskState, uuid: string): TaskStatus {
  return {
    taskId,
    state,
    agentId: "agent-1",
    frameworkId: "fw-1",
    message: "",
    reason: "",
    uuid,
    timestamp: 1,
    source: "agent",
  };
}

describe("agent checkpoint", () => {
  const dir = tempDir("checkpoint");
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test("a task and its first update, then its executor state with RUNNING, survive a reopen", () => {
    const task: CheckpointedTask = {
      taskId: "t1",
      frameworkId: "fw-1",
      info: TaskInfo.fromPartial({ taskId: "t1", executor: "docker" }),
      executor: "docker",
      state: TaskState.TASK_STAGING,
      killRequested: false,
    };
    const cp = new Checkpoint(dir);
    cp.addUpdate(status("t1", TaskState.TASK_STARTING, "u1"), { task });
    let reopened = new Checkpoint(dir);
    assert.equal(reopened.tasks()[0]?.state, TaskState.TASK_STARTING);
    assert.equal(reopened.tasks()[0]?.executorState, undefined);
    assert.deepEqual(
      reopened.pendingUpdates().map((p) => p.status.uuid),
      ["u1"],
    );
    reopened.close();
    cp.addUpdate(status("t1", TaskState.TASK_RUNNING, "u2"), { executorState: { containerId: "c1" } });
    reopened = new Checkpoint(dir);
    assert.equal(reopened.tasks()[0]?.state, TaskState.TASK_RUNNING);
    assert.deepEqual(reopened.tasks()[0]?.executorState, { containerId: "c1" });
    reopened.close();
    // A failed write keeps neither part: the task row is not left without its update.
    assert.throws(() =>
      cp.addUpdate(status("t2", TaskState.TASK_STARTING, "u1"), { task: { ...task, taskId: "t2" } }),
    );
    assert.deepEqual(
      cp.tasks().map((t) => t.taskId),
      ["t1"],
    );
    cp.close();
  });

  test("in memory: the same writes and acks, no file, nothing left for the next one", () => {
    const memDir = tempDir("checkpoint-mem");
    try {
      const task: CheckpointedTask = {
        taskId: "m1",
        frameworkId: "fw-1",
        info: TaskInfo.fromPartial({ taskId: "m1" }),
        executor: "process",
        state: TaskState.TASK_STAGING,
        killRequested: false,
      };
      const cp = new Checkpoint(memDir, { inMemory: true });
      cp.setAgentId("agent-9");
      cp.addUpdate(status("m1", TaskState.TASK_RUNNING, "u1"), { task, executorState: { pid: 1 } });
      assert.equal(cp.agentId(), "agent-9");
      assert.deepEqual(cp.tasks()[0]?.executorState, { pid: 1 });
      cp.addUpdate(status("m1", TaskState.TASK_FINISHED, "u2"));
      assert.deepEqual(cp.ack("m1", "u1"), { known: true, taskRemoved: false });
      assert.deepEqual(cp.ack("m1", "u2"), { known: true, taskRemoved: true });
      assert.deepEqual(fs.readdirSync(memDir), [], "no database file");
      cp.close();
      const next = new Checkpoint(memDir, { inMemory: true });
      assert.equal(next.agentId(), undefined);
      next.close();
    } finally {
      fs.rmSync(memDir, { recursive: true, force: true });
    }
  });

  test("acks drop updates and, after the terminal one, the task", () => {
    const cp = new Checkpoint(dir);
    assert.deepEqual(cp.ack("t1", "u1"), { known: true, taskRemoved: false });
    cp.addUpdate(status("t1", TaskState.TASK_FINISHED, "u3"));
    assert.deepEqual(cp.ack("t1", "u2"), { known: true, taskRemoved: false });
    assert.deepEqual(cp.ack("t1", "nope"), { known: false, taskRemoved: false });
    assert.deepEqual(cp.ack("t1", "u3"), { known: true, taskRemoved: true });
    cp.close();
    const reopened = new Checkpoint(dir);
    assert.deepEqual(reopened.tasks(), []);
    assert.deepEqual(reopened.pendingUpdates(), []);
    reopened.close();
  });
});
