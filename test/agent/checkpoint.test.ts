// The agent checkpoint's combined writes: a task with its first update, the executor's state
// with RUNNING, and acks; all read back by a fresh process's view of the same file.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import path from "node:path";
import { CHECKPOINT_MIGRATIONS, Checkpoint, type CheckpointedTask } from "../../agent/checkpoint.js";
import { openDatabase } from "../../common/sqlite.js";
import { TaskInfo, TaskState, TaskStatus } from "../../proto/gen/yard/v1/common.js";
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
      name: "fw-1_t1",
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
      cp.addUpdate(status("t2", TaskState.TASK_STARTING, "u1"), {
        task: { ...task, name: "fw-1_t2", taskId: "t2" },
      }),
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
        name: "fw-1_m1",
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
      assert.deepEqual(cp.ack("fw-1", "m1", "u1"), { known: true, taskRemoved: false });
      assert.deepEqual(cp.ack("fw-1", "m1", "u2"), { known: true, taskRemoved: true });
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
    assert.deepEqual(cp.ack("fw-1", "t1", "u1"), { known: true, taskRemoved: false });
    cp.addUpdate(status("t1", TaskState.TASK_FINISHED, "u3"));
    assert.deepEqual(cp.ack("fw-1", "t1", "u2"), { known: true, taskRemoved: false });
    assert.deepEqual(cp.ack("fw-1", "t1", "nope"), { known: false, taskRemoved: false });
    assert.deepEqual(cp.ack("fw-1", "t1", "u3"), { known: true, taskRemoved: true });
    cp.close();
    const reopened = new Checkpoint(dir);
    assert.deepEqual(reopened.tasks(), []);
    assert.deepEqual(reopened.pendingUpdates(), []);
    reopened.close();
  });

  test("a checkpoint of the per-agent id schema migrates with its rows; then two frameworks keep their web-1", () => {
    const oldDir = tempDir("checkpoint-v2");
    try {
      // The checkpoint as the previous build wrote it: task_id alone as the primary key.
      const before = CHECKPOINT_MIGRATIONS.length - 1;
      const old = openDatabase(path.join(oldDir, "agent.db"), {
        migrations: CHECKPOINT_MIGRATIONS.slice(0, before),
        name: "old checkpoint",
        synchronous: "FULL",
      });
      const info = TaskInfo.fromPartial({ taskId: "web-1", executor: "process" });
      old
        .prepare(
          `INSERT INTO tasks (task_id, framework_id, info, executor, state, executor_state, kill_requested, running_since)
           VALUES ('web-1', 'fw-a', ?, 'process', ?, '{"pid":42}', 1, 5)`,
        )
        .run(Buffer.from(TaskInfo.encode(info).finish()), TaskState.TASK_RUNNING);
      const pending = { ...status("web-1", TaskState.TASK_RUNNING, "old-u1"), frameworkId: "fw-a" };
      old
        .prepare("INSERT INTO updates (uuid, task_id, status) VALUES ('old-u1', 'web-1', ?)")
        .run(Buffer.from(TaskStatus.encode(pending).finish()));
      old.close();

      const cp = new Checkpoint(oldDir);
      const [kept, ...none] = cp.tasks();
      assert.equal(none.length, 0);
      // Its name stays its bare id: its sandbox, cgroup and container were made under it.
      assert.deepEqual(
        { ...kept, info: undefined },
        {
          name: "web-1",
          taskId: "web-1",
          frameworkId: "fw-a",
          info: undefined,
          executor: "process",
          state: TaskState.TASK_RUNNING,
          executorState: { pid: 42 },
          killRequested: true,
          health: undefined,
          runningSince: 5,
        },
      );
      assert.deepEqual(
        cp.pendingUpdates().map((p) => p.status.uuid),
        ["old-u1"],
      );

      // Framework B's web-1 is a second task; acks and states are each its own.
      const b: CheckpointedTask = {
        name: "fw-b_web-1",
        taskId: "web-1",
        frameworkId: "fw-b",
        info,
        executor: "process",
        state: TaskState.TASK_STAGING,
        killRequested: false,
      };
      cp.addUpdate({ ...status("web-1", TaskState.TASK_FINISHED, "b-u1"), frameworkId: "fw-b" }, { task: b });
      assert.deepEqual(cp.ack("fw-b", "web-1", "old-u1"), { known: false, taskRemoved: false });
      assert.deepEqual(cp.ack("fw-b", "web-1", "b-u1"), { known: true, taskRemoved: true });
      assert.deepEqual(
        cp.tasks().map((t) => [t.frameworkId, t.name, TaskState[t.state]]),
        [["fw-a", "web-1", "TASK_RUNNING"]],
      );
      assert.deepEqual(cp.ack("fw-a", "web-1", "old-u1"), { known: true, taskRemoved: false });
      cp.close();
    } finally {
      fs.rmSync(oldDir, { recursive: true, force: true });
    }
  });
});
