// The service framework's store, one contract for both implementations: SQLite (the default,
// service.db) and the SDK's state store on a real etcd member (several instances). Everything
// a restarted or a taken-over framework needs is read back after a reopen, in the same order.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import { KvServiceStore } from "../../../frameworks/service/kv-service-store.js";
import type { DeploymentRecord, InstanceRecord } from "../../../frameworks/service/service-state.js";
import type { ServiceStore } from "../../../frameworks/service/service-store.js";
import { SqliteServiceStore } from "../../../frameworks/service/sqlite-service-store.js";
import { etcdBackend } from "../../framework-sdk/state/state-backends.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-service-store-"));
const etcd = etcdBackend();
before(() => etcd.start());
after(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  await etcd.destroy();
});

interface Opened {
  store: ServiceStore;
  reopen(): Promise<ServiceStore>;
  close(): Promise<void>;
}

let files = 0;
const implementations: Array<{ name: string; open(): Promise<Opened> }> = [
  {
    name: "sqlite",
    open: async () => {
      const file = path.join(dir, `s-${files++}.db`);
      let store: ServiceStore = new SqliteServiceStore(file);
      return {
        get store() {
          return store;
        },
        reopen: async () => {
          store.close();
          store = new SqliteServiceStore(file);
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
      let store: ServiceStore = new KvServiceStore(kv.kv);
      return {
        get store() {
          return store;
        },
        reopen: async () => {
          store = new KvServiceStore(await kv.reopen());
          return store;
        },
        close: () => kv.close(),
      };
    },
  },
];

const spec = parseAppSpec("name: web\ncommand: x\ninstances: 2\n");
const inst = (taskId: string, app = "web"): InstanceRecord => ({
  taskId,
  app,
  revision: 1,
  agentId: "a1",
  hostname: "h1",
  port: 31000,
  state: 1,
  launchedAt: 10,
  message: "",
  stopping: false,
});
const dep = (id: string, app: string, startedAt: number): DeploymentRecord => ({
  id,
  app,
  fromRevision: 0,
  toRevision: 1,
  state: "RUNNING",
  paused: false,
  rollingBack: false,
  step: 2,
  stepDoneAt: 0,
  lastProgressAt: 5,
  bestReady: 1,
  failures: 0,
  message: "",
  failure: "",
  startedAt,
  endedAt: 0,
  staging: [],
  stagingComplete: true,
});
const rev = (app: string, number: number) => ({
  app,
  number,
  spec,
  specYaml: `name: ${app}`,
  createdAt: number,
  changeCause: "created",
});
const app = (name: string) => ({ name, revision: 1, instances: 2, deleting: false, updatedAt: 1 });

for (const impl of implementations) {
  describe(`service store contract: ${impl.name}`, { timeout: 60_000 }, () => {
    test("the framework id and secret survive a reopen, and are forgotten together", async () => {
      const o = await impl.open();
      assert.equal(o.store.frameworkId(), undefined);
      o.store.setFrameworkId("fw-1", "s3cret");
      let store = await o.reopen();
      assert.equal(store.frameworkId(), "fw-1");
      assert.equal(store.frameworkSecret(), "s3cret");
      store.setFrameworkId(undefined);
      store = await o.reopen();
      assert.equal(store.frameworkId(), undefined);
      assert.equal(store.frameworkSecret(), undefined);
      await o.close();
    });

    test("apps, revisions, instances and deployment progress survive a reopen, in order", async () => {
      const o = await impl.open();
      o.store.write({
        apps: [app("web-2"), app("web")],
        revisions: [rev("web", 10), rev("web-2", 1), rev("web", 2)],
        instances: [inst("t2"), inst("t1"), inst("u1", "web-2")],
        deployments: [dep("web-10-b", "web", 9), dep("web-2-a", "web", 2), dep("w2-1", "web-2", 1)],
      });
      o.store.write({ deleteInstances: ["t2"], deployments: [{ ...dep("web-10-b", "web", 9), step: 3 }] });
      await o.store.durable();
      const s = (await o.reopen()).load();
      assert.deepEqual(
        s.apps.map((a) => a.name),
        ["web", "web-2"],
      );
      assert.deepEqual(
        s.revisions.map((r) => `${r.app}/${r.number}`),
        ["web/2", "web/10", "web-2/1"],
      );
      // Compared as stored: JSON, where an absent health check is no key at all.
      assert.deepEqual(s.revisions[0]?.spec, JSON.parse(JSON.stringify(spec)));
      assert.deepEqual(
        s.instances.map((i) => i.taskId),
        ["t1", "u1"],
      );
      assert.deepEqual(
        s.deployments.map((d) => `${d.id}:${d.step}`),
        ["web-2-a:2", "web-10-b:3", "w2-1:2"],
      );
      await o.close();
    });

    test("deleting an app deletes its revisions, instances and deployments, not another app's", async () => {
      const o = await impl.open();
      o.store.write({
        apps: [app("web"), app("api")],
        revisions: [rev("web", 1), rev("api", 1)],
        instances: [inst("t1"), inst("a1", "api")],
        deployments: [dep("web-1", "web", 1), dep("api-1", "api", 1)],
      });
      o.store.write({ deleteApps: ["web"] });
      const s = (await o.reopen()).load();
      assert.deepEqual(
        {
          apps: s.apps.map((a) => a.name),
          revisions: s.revisions.map((r) => r.app),
          instances: s.instances.map((i) => i.taskId),
          deployments: s.deployments.map((d) => d.id),
        },
        { apps: ["api"], revisions: ["api"], instances: ["a1"], deployments: ["api-1"] },
      );
      await o.close();
    });
  });
}

test("sqlite: a schema newer than the build is refused", () => {
  const file = path.join(dir, "newer.db");
  const db = new Database(file);
  db.pragma("user_version = 99");
  db.close();
  assert.throws(() => new SqliteServiceStore(file), /schema v99 is newer/);
});
