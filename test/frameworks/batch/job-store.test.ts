import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { TaskState } from "../../../framework-sdk/index.js";
import { JobStore } from "../../../frameworks/batch/job-store.js";
import { markLaunched, newJob } from "../../../frameworks/batch/job-state.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-batch-store-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("JobStore", () => {
  test("keeps the framework id and jobs across reopening", () => {
    const file = path.join(dir, "a.db");
    const store = new JobStore(file);
    assert.equal(store.frameworkId(), undefined);
    store.setFrameworkId("fw-1");
    const job = newJob(
      "j-1",
      {
        name: "j",
        command: { value: "echo hi", arguments: [], shell: true, env: { A: "1" } },
        resources: { cpus: 0.5, mem: 64, disk: 0, ports: [] },
        tasks: 2,
        maxRetries: 1,
        ports: 1,
        executor: "",
        container: undefined,
      },
      10,
    );
    store.saveJob(job);
    markLaunched(job, 1, "agent-9");
    job.tasks[1].exitCode = 0;
    store.saveJob(job, [1]);
    store.close();

    const again = new JobStore(file);
    assert.equal(again.frameworkId(), "fw-1");
    const [loaded] = again.loadJobs();
    assert.deepEqual(loaded, job);
    again.setFrameworkId(undefined);
    assert.equal(again.frameworkId(), undefined);
    again.close();

    const db = new Database(file);
    assert.equal(db.pragma("user_version", { simple: true }), 1);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    db.close();
    assert.equal(loaded.tasks[1].state, TaskState.TASK_STAGING);
  });

  test("refuses a store from a newer build", () => {
    const file = path.join(dir, "b.db");
    const db = new Database(file);
    db.pragma("user_version = 99");
    db.close();
    assert.throws(() => new JobStore(file), /schema v99 is newer/);
  });
});
