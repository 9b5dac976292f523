// The batch framework's store, one contract for both implementations: SQLite (the default,
// batch.db) and the SDK's state store on a real etcd member (several instances). A job's
// tasks are written one by one as they change; a reopen reads them all back.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { TaskState } from "../../../framework-sdk/index.js";
import { markLaunched, newJob } from "../../../frameworks/batch/job-state.js";
import type { JobStore } from "../../../frameworks/batch/job-store.js";
import { KvJobStore } from "../../../frameworks/batch/kv-job-store.js";
import { SqliteJobStore } from "../../../frameworks/batch/sqlite-job-store.js";
import { etcdBackend } from "../../framework-sdk/state/state-backends.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-batch-store-"));
const etcd = etcdBackend();
before(() => etcd.start());
after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await etcd.destroy();
});

interface Opened {
  store: JobStore;
  reopen(): Promise<JobStore>;
  close(): Promise<void>;
}

let files = 0;
const implementations: Array<{ name: string; open(): Promise<Opened> }> = [
  {
    name: "sqlite",
    open: async () => {
      const file = path.join(dir, `j-${files++}.db`);
      let store: JobStore = new SqliteJobStore(file);
      return {
        get store() {
          return store;
        },
        reopen: async () => {
          store.close();
          store = new SqliteJobStore(file);
          return store;
        },
        close: async () => store.close(),
      };
    },
  },
  {
    name: "etcd",
    open: async () => {
      const kv = await etcd.open();
      let store: JobStore = new KvJobStore(kv.kv);
      return {
        get store() {
          return store;
        },
        reopen: async () => {
          store = new KvJobStore(await kv.reopen());
          return store;
        },
        close: () => kv.close(),
      };
    },
  },
];

const job = (id: string, createdAt: number, tasks = 2) =>
  newJob(
    id,
    {
      name: "j",
      command: { value: "echo hi", arguments: [], shell: true, env: { A: "1" } },
      resources: { cpus: 0.5, mem: 64, disk: 0, ports: [] },
      tasks,
      maxRetries: 1,
      ports: 1,
      executor: "",
      container: undefined,
    },
    createdAt,
  );

for (const impl of implementations) {
  describe(`job store contract: ${impl.name}`, { timeout: 60_000 }, () => {
    test("keeps the framework id and jobs across reopening; tasks are written as they change", async () => {
      const o = await impl.open();
      assert.equal(o.store.frameworkId(), undefined);
      o.store.setFrameworkId("fw-1", "s3cret");
      const j = job("j-1", 10, 12);
      o.store.saveJob(j);
      markLaunched(j, 1, "agent-9");
      j.tasks[1]!.exitCode = 0;
      j.message = "one launched";
      o.store.saveJob(j, [1]);
      // A change of another task not written: the reopened store must not have it.
      const unsaved = structuredClone(j);
      markLaunched(j, 11, "agent-8");
      await o.store.durable();
      const again = await o.reopen();
      assert.equal(again.frameworkId(), "fw-1");
      assert.equal(again.frameworkSecret(), "s3cret");
      const [loaded] = again.loadJobs();
      assert.deepEqual(loaded, unsaved);
      assert.equal(loaded?.tasks[1]?.state, TaskState.TASK_STAGING);
      assert.deepEqual(
        loaded?.tasks.map((t) => t.index),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      );
      again.setFrameworkId(undefined);
      assert.equal((await o.reopen()).frameworkId(), undefined);
      await o.close();
    });

    test("jobs come back oldest first; deleted jobs leave nothing behind", async () => {
      const o = await impl.open();
      for (const [id, at] of [
        ["b", 20],
        ["a", 20],
        ["c", 5],
      ] as const)
        o.store.saveJob(job(id, at));
      o.store.deleteJobs(["b"]);
      o.store.deleteJobs([]);
      const again = await o.reopen();
      assert.deepEqual(
        again.loadJobs().map((j) => j.id),
        ["c", "a"],
      );
      again.deleteJobs(["c", "a"]);
      assert.deepEqual((await o.reopen()).loadJobs(), []);
      await o.close();
    });
  });
}

test("sqlite: a store from a newer build is refused; the file is WAL", () => {
  const file = path.join(dir, "newer.db");
  new SqliteJobStore(file).close();
  const db = new Database(file);
  assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
  assert.equal(db.pragma("user_version", { simple: true }), 1);
  db.pragma("user_version = 99");
  db.close();
  assert.throws(() => new SqliteJobStore(file), /schema v99 is newer/);
});
