// Status updates on a real full disk (a 4 MiB tmpfs filled to the last byte): the checkpoint
// refuses the writes with SQLITE_FULL, the updates are held in memory, sent and retried, their
// acks held too; once space is back, flush writes them, in order, and the checkpoint ends
// where it would have without the fault.
import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Checkpoint } from "../../agent/checkpoint.js";
import { StatusUpdates } from "../../agent/status-updates.js";
import { createLogger } from "../../common/logger.js";
import type { AgentMessage } from "../../proto/gen/yard/v1/agent.js";
import { TaskInfo, TaskState } from "../../proto/gen/yard/v1/common.js";
import { SmallDisk } from "../chaos/disk-helpers.js";
import { tempDir } from "./helpers.js";

describe("status updates on a full disk", () => {
  const root = tempDir("updates-disk-full");
  let disk: SmallDisk;
  let checkpoint: Checkpoint;
  const sent: AgentMessage[] = [];
  const failures: string[] = [];
  let updates: StatusUpdates;

  before(() => {
    disk = new SmallDisk(join(root, "disk"), 4);
    checkpoint = new Checkpoint(disk.dir);
    updates = new StatusUpdates(
      checkpoint,
      (m) => {
        sent.push(m);
        return true;
      },
      createLogger("test"),
      60_000,
      (err, what) => {
        failures.push(`${what}: ${(err as { code?: string }).code}`);
        return (err as { code?: string }).code === "SQLITE_FULL";
      },
    );
  });
  after(() => {
    checkpoint?.close();
    disk?.unmount();
    fs.rmSync(root, { recursive: true, force: true });
  });

  const fields = (taskId: string, state: TaskState) => ({
    taskId,
    frameworkId: "fw-1",
    state,
    reason: "",
    message: "",
  });
  const sentStates = () =>
    sent.map((m) => `${m.status?.status?.taskId}:${TaskState[m.status!.status!.state]}`);

  test("held in memory, sent, retried; acks held; flushed in order once space is back", () => {
    const task = {
      name: "fw-1_t1",
      taskId: "t1",
      frameworkId: "fw-1",
      info: TaskInfo.fromPartial({ taskId: "t1" }),
      executor: "process",
      state: TaskState.TASK_STAGING,
      killRequested: false,
    };
    const running = updates.emit("agent-1", fields("t1", TaskState.TASK_RUNNING), { task });
    assert.equal(updates.holding(), false);

    disk.fill();
    const finished = updates.emit("agent-1", fields("t1", TaskState.TASK_FINISHED));
    const launched = updates.emit("agent-1", fields("t2", TaskState.TASK_FAILED), {
      task: { ...task, name: "fw-1_t2", taskId: "t2", info: TaskInfo.fromPartial({ taskId: "t2" }) },
    });
    assert.deepEqual(failures, ["status update: SQLITE_FULL"]);
    assert.equal(updates.holding(), true);
    assert.deepEqual(sentStates(), ["t1:TASK_RUNNING", "t1:TASK_FINISHED", "t2:TASK_FAILED"]);

    sent.length = 0;
    updates.resendAll();
    assert.deepEqual(sentStates(), ["t1:TASK_RUNNING", "t1:TASK_FINISHED", "t2:TASK_FAILED"]);

    // The ack of a checkpointed update cannot be written either: it is held, not resent.
    assert.equal(updates.ack("fw-1", "t1", running.uuid), false);
    assert.equal(
      updates.ack("fw-1", "t1", finished.uuid),
      true,
      "the task is done with once its terminal update is acked",
    );
    sent.length = 0;
    updates.resendAll();
    assert.deepEqual(sentStates(), ["t2:TASK_FAILED"]);
    assert.throws(() => updates.flush(), /database or disk is full/);
    assert.equal(updates.holding(), true);

    disk.free();
    updates.flush();
    assert.equal(updates.holding(), false);
    assert.deepEqual(
      checkpoint.pendingUpdates().map((p) => p.status.uuid),
      [launched.uuid],
    );
    assert.deepEqual(
      checkpoint.tasks().map((t) => [t.taskId, TaskState[t.state]]),
      [["t2", "TASK_FAILED"]],
    );
    assert.equal(updates.ack("fw-1", "t2", launched.uuid), true);
    assert.deepEqual(checkpoint.tasks(), []);
    // Back to normal: a new update is written at once.
    updates.emit("agent-1", fields("t3", TaskState.TASK_RUNNING));
    assert.equal(updates.holding(), false);
    assert.equal(checkpoint.pendingUpdates().length, 1);
  });
});
