import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import type { DeploymentRecord, InstanceRecord } from "../../../frameworks/service/service-state.js";
import { ServiceStore } from "../../../frameworks/service/service-store.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-service-store-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = parseAppSpec("name: web\ncommand: x\ninstances: 2\n");
const inst = (taskId: string): InstanceRecord => ({
  taskId,
  app: "web",
  revision: 1,
  agentId: "a1",
  hostname: "h1",
  port: 31000,
  state: 1,
  launchedAt: 10,
  message: "",
  stopping: false,
});
const dep: DeploymentRecord = {
  id: "web-1-abc",
  app: "web",
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
  startedAt: 1,
  endedAt: 0,
  staging: [],
  stagingComplete: true,
};

describe("service store", () => {
  test("apps, revisions, instances and deployment progress survive a reopen", () => {
    const file = path.join(dir, "a.db");
    let store = new ServiceStore(file);
    store.setFrameworkId("fw-1");
    store.write({
      apps: [{ name: "web", revision: 1, instances: 2, deleting: false, updatedAt: 1 }],
      revisions: [
        { app: "web", number: 1, spec, specYaml: "name: web", createdAt: 1, changeCause: "created" },
      ],
      instances: [inst("t1"), inst("t2")],
      deployments: [dep],
    });
    store.write({ deleteInstances: ["t2"] });
    store.close();
    store = new ServiceStore(file);
    const s = store.load();
    assert.equal(store.frameworkId(), "fw-1");
    assert.deepEqual(
      s.apps.map((a) => a.name),
      ["web"],
    );
    // Compared as stored: JSON, where an absent health check is no key at all.
    assert.deepEqual(s.revisions[0]?.spec, JSON.parse(JSON.stringify(spec)));
    assert.deepEqual(
      s.instances.map((i) => i.taskId),
      ["t1"],
    );
    assert.equal(s.deployments[0]?.step, 2);
    store.write({ deleteApps: ["web"] });
    assert.deepEqual(store.load(), { apps: [], revisions: [], instances: [], deployments: [] });
    store.close();
  });

  test("a schema newer than the build is refused", () => {
    const file = path.join(dir, "b.db");
    const db = new Database(file);
    db.pragma("user_version = 99");
    db.close();
    assert.throws(() => new ServiceStore(file), /schema v99 is newer/);
  });
});
