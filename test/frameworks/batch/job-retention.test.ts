import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { silentLogger } from "../../../framework-sdk/index.js";
import { BatchScheduler } from "../../../frameworks/batch/batch-scheduler.js";
import { checkRetention, jobsToForget } from "../../../frameworks/batch/job-retention.js";
import { SqliteJobStore } from "../../../frameworks/batch/sqlite-job-store.js";
import { newJob } from "../../../frameworks/batch/job-state.js";
import type { Job } from "../../../proto/gen/yard/v1/batch.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-batch-retention-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = {
  name: "j",
  command: { value: "true", arguments: [], shell: true, env: {} },
  resources: { cpus: 0.1, mem: 16, disk: 0, ports: [] },
  tasks: 1,
  maxRetries: 0,
  ports: 0,
  executor: "",
  container: undefined,
};

/** A job in `state`, ended at `finishedAt` when it is an end state. */
function job(id: string, state: string, finishedAt = 0): Job {
  return { ...newJob(id, spec, 1), state, finishedAt };
}

describe("jobsToForget", () => {
  const jobs = [
    job("a", "SUCCEEDED", 100),
    job("b", "FAILED", 300),
    job("c", "RUNNING"),
    job("d", "KILLED", 200),
    job("e", "PENDING"),
  ];

  test("keeps the newest maxEnded ended jobs, and every job still going", () => {
    assert.deepEqual(jobsToForget(jobs, { maxEnded: 2, maxAgeSeconds: 1e9 }, 400), ["a"]);
    assert.deepEqual(jobsToForget(jobs, { maxEnded: 0, maxAgeSeconds: 1e9 }, 400).sort(), ["a", "b", "d"]);
    assert.deepEqual(jobsToForget(jobs, { maxEnded: 10, maxAgeSeconds: 1e9 }, 400), []);
  });

  test("forgets ended jobs older than maxAgeSeconds since they ended", () => {
    assert.deepEqual(jobsToForget(jobs, { maxEnded: 10, maxAgeSeconds: 150 }, 400).sort(), ["a", "d"]);
  });

  test("ties in end time go by id", () => {
    const tied = [job("y", "SUCCEEDED", 5), job("x", "SUCCEEDED", 5)];
    assert.deepEqual(jobsToForget(tied, { maxEnded: 1, maxAgeSeconds: 1e9 }, 10), ["y"]);
  });

  test("bad settings are refused, naming the setting and the value", () => {
    assert.throws(() => checkRetention({ maxEnded: -1, maxAgeSeconds: 1 }), /retention\.maxEnded: -1/);
    assert.throws(() => checkRetention({ maxEnded: 1.5, maxAgeSeconds: 1 }), /retention\.maxEnded: 1\.5/);
    assert.throws(() => checkRetention({ maxEnded: 1, maxAgeSeconds: 0 }), /retention\.maxAgeSeconds: 0/);
  });
});

describe("BatchScheduler retention", () => {
  test("ended jobs past the retention leave memory and batch.db; running ones stay", () => {
    const file = path.join(dir, "batch.db");
    const store = new SqliteJobStore(file);
    const now = Date.now() / 1000;
    store.saveJob(job("old", "SUCCEEDED", now - 100));
    store.saveJob(job("mid", "FAILED", now - 50));
    store.saveJob(job("new", "SUCCEEDED", now - 10));
    store.saveJob(job("live", "RUNNING"));
    const init = {
      master: "127.0.0.1:1",
      name: "batch",
      role: "*",
      failoverTimeoutSeconds: 60,
      endpoint: "",
    };
    // Loading applies the retention at once: two ended jobs kept, the oldest forgotten.
    const scheduler = new BatchScheduler(store, silentLogger, {
      ...init,
      retention: { maxEnded: 2, maxAgeSeconds: 3600 },
    });
    assert.deepEqual(
      scheduler
        .list()
        .map((j) => j.id)
        .sort(),
      ["live", "mid", "new"],
    );
    // Past its age, "mid" goes too.
    assert.deepEqual(scheduler.forgetOldJobs(now + 3600 - 30), ["mid"]);
    assert.equal(scheduler.get("mid"), undefined);
    void scheduler.stop();
    store.close();
    const again = new SqliteJobStore(file);
    assert.deepEqual(
      again
        .loadJobs()
        .map((j) => j.id)
        .sort(),
      ["live", "new"],
    );
    again.close();
  });
});
