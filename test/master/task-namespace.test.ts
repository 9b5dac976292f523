// Task ids are scoped per framework in the master: the registry's SQLite key, its migration
// from the cluster-wide key, and which task an operator's bare id names.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AmbiguousTaskIdError, NotFoundError } from "../../common/errors.js";
import { silentLogger } from "../../common/logger.js";
import { openDatabase } from "../../common/sqlite.js";
import { splitTaskKey, taskKey } from "../../common/task-key.js";
import { TaskState } from "../../common/task-states.js";
import { MasterCore } from "../../master/master-core.js";
import type { StoredTask } from "../../master/store/registry-store.js";
import { MASTER_MIGRATIONS, SqliteRegistryStore } from "../../master/store/sqlite-registry-store.js";
import { findOperatorTask } from "../../master/operator-task.js";
import type { TaskEntry } from "../../master/registry-entries.js";
import { TaskInfo, TaskStatus } from "../../proto/gen/yard/v1/common.js";

function stored(frameworkId: string, taskId: string, state = TaskState.TASK_RUNNING): StoredTask {
  return {
    info: TaskInfo.fromPartial({ taskId, agentId: "agent-1", name: `${frameworkId}:${taskId}` }),
    frameworkId,
    status: TaskStatus.fromPartial({ taskId, frameworkId, agentId: "agent-1", state, uuid: "u-1" }),
    acknowledged: false,
    killRequested: false,
    createdAt: 1,
  };
}

const entry = (frameworkId: string, taskId: string): TaskEntry => ({
  ...stored(frameworkId, taskId),
  seenUuids: [],
});

describe("task keys", () => {
  test("a key splits back into its framework and task id, whatever the id holds", () => {
    for (const [fw, id] of [
      ["fw-1", "web-1"],
      ["fw-1", "a:b@c.d"],
      ["odd/framework", "x"],
    ] as const) {
      assert.deepEqual(splitTaskKey(taskKey(fw, id)), { frameworkId: fw, taskId: id });
    }
    assert.notEqual(taskKey("fw-1", "web-1"), taskKey("fw-2", "web-1"));
  });
});

describe("the task an operator names", () => {
  const tasks = [entry("fw-a", "web-1"), entry("fw-b", "web-1"), entry("fw-b", "db-1")];
  const name = (id: string) => ({ "fw-a": "alpha", "fw-b": "beta" })[id];

  test("a bare id of one framework's task names it", () => {
    assert.equal(findOperatorTask(tasks, "db-1", "", name).frameworkId, "fw-b");
  });

  test("a bare id that several frameworks use is refused, naming them all", () => {
    assert.throws(
      () => findOperatorTask(tasks, "web-1", "", name),
      (err: unknown) =>
        err instanceof AmbiguousTaskIdError &&
        err.code === 9 && // FAILED_PRECONDITION
        err.message ===
          "task id web-1 is used by 2 frameworks: fw-a (alpha), fw-b (beta); name the framework with --framework (framework_id)",
    );
  });

  test("with its framework the same id names one task", () => {
    assert.equal(findOperatorTask(tasks, "web-1", "fw-b", name).frameworkId, "fw-b");
  });

  test("an id the named framework does not have is NOT_FOUND, even if another has it", () => {
    assert.throws(
      () => findOperatorTask(tasks, "db-1", "fw-a", name),
      (err: unknown) =>
        err instanceof NotFoundError && err.message === "task db-1 of framework fw-a not found",
    );
  });
});

describe("the master registry keys tasks by (framework, id)", () => {
  test("a registry of the cluster-wide schema migrates with its rows; then both frameworks keep their web-1", () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-task-ns-"));
    try {
      // The registry as the previous build wrote it: task id alone as the primary key.
      const before = MASTER_MIGRATIONS.length - 1;
      const old = openDatabase(join(dir, "master.db"), {
        migrations: MASTER_MIGRATIONS.slice(0, before),
        name: "old registry",
        synchronous: "NORMAL",
      });
      const t = stored("fw-a", "web-1");
      old
        .prepare(
          `INSERT INTO tasks (id, framework_id, agent_id, info, status, terminal, acknowledged, kill_requested,
             created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, 1, 7, 8)`,
        )
        .run(
          "web-1",
          "fw-a",
          "agent-1",
          JSON.stringify(TaskInfo.toJSON(t.info)),
          JSON.stringify(TaskStatus.toJSON(t.status)),
        );
      assert.equal(old.pragma("user_version", { simple: true }), before);
      old.close();

      let store = new SqliteRegistryStore(dir);
      const [migrated, ...rest] = store.loadTasks();
      assert.equal(rest.length, 0);
      assert.equal(migrated?.frameworkId, "fw-a");
      assert.equal(migrated?.info.name, "fw-a:web-1");
      assert.equal(migrated?.status.state, TaskState.TASK_RUNNING);
      assert.equal(migrated?.killRequested, true);
      assert.equal(migrated?.createdAt, 7);

      // The same id for another framework is a second row, and each is updated on its own.
      store.putTask(stored("fw-b", "web-1"), false, 9);
      const killedB = stored("fw-b", "web-1", TaskState.TASK_KILLED);
      store.updateTask(killedB, true, 10);
      store.markAcknowledged("fw-b", "web-1", 11);
      store.close();

      store = new SqliteRegistryStore(dir);
      const byFw = new Map(store.loadTasks().map((x) => [x.frameworkId, x]));
      assert.equal(byFw.get("fw-a")?.status.state, TaskState.TASK_RUNNING);
      assert.equal(byFw.get("fw-a")?.acknowledged, false);
      assert.equal(byFw.get("fw-b")?.status.state, TaskState.TASK_KILLED);
      assert.equal(byFw.get("fw-b")?.acknowledged, true);

      // A master recovering this registry holds both, each under its own framework.
      const core = new MasterCore(store, undefined, silentLogger);
      assert.equal(core.task("fw-a", "web-1")?.status.state, TaskState.TASK_RUNNING);
      assert.equal(core.task("fw-b", "web-1")?.status.state, TaskState.TASK_KILLED);
      assert.equal(core.task("fw-c", "web-1"), undefined);

      store.deleteTask("fw-b", "web-1");
      assert.deepEqual(
        store.loadTasks().map((x) => x.frameworkId),
        ["fw-a"],
      );
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
