// Which releases the service framework pins: current, previous (undo target), rollback source
// and revisions with instances; and the sync that sends the set only when it changed.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { DeployClient } from "../../../cli/commands/deploy-client.js";
import { ReleaseClient } from "../../../cli/commands/release.js";
import { silentLogger } from "../../../framework-sdk/index.js";
import { AppBook } from "../../../frameworks/service/app-book.js";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import { PinSync, pinnedReleases } from "../../../frameworks/service/release-pins.js";
import type { InstanceRecord } from "../../../frameworks/service/service-state.js";
import { startServiceFramework } from "../../../frameworks/service/service-daemon.js";
import { SqliteServiceStore } from "../../../frameworks/service/sqlite-service-store.js";
import type { Stager } from "../../../frameworks/service/stager.js";
import { pushFile, randomFile, startTestMaster, waitFor } from "../../master/releases/helpers.js";
import { tlsOf } from "../../tls-fixture.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-release-pins-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const spec = (app: string, release: string) =>
  parseAppSpec(`name: ${app}\ncommand: x\ninstances: 1\n${release ? `release: ${release}\n` : ""}`);

function instance(app: string, revision: number, taskId: string): InstanceRecord {
  return {
    taskId,
    app,
    revision,
    agentId: "a1",
    hostname: "h1",
    port: 31000,
    state: 1,
    launchedAt: 1,
    message: "",
    stopping: false,
  };
}

describe("service release pins", () => {
  test("current, previous, deployment source and revisions with instances are pinned", () => {
    const store = new SqliteServiceStore(path.join(dir, "a.db"));
    try {
      const book = new AppBook(store);
      const d1 = book.newRevision(spec("web", "web@1"), "", "deploy", 1);
      assert.deepEqual(pinnedReleases(book), ["web@1"]);
      d1.state = "SUCCEEDED";
      book.live.set("t1", book.fresh(instance("web", 1, "t1")));
      book.newRevision(spec("web", "web@2"), "", "deploy", 2);
      assert.deepEqual(pinnedReleases(book), ["web@1", "web@2"]);

      // Revision 3 deployed and done: 1 has no instances left and is not the undo target.
      const d3 = book.newRevision(spec("web", "web@3"), "", "deploy", 3);
      d3.state = "SUCCEEDED";
      book.live.delete("t1");
      book.live.set("t3", book.fresh(instance("web", 3, "t3")));
      assert.deepEqual(pinnedReleases(book), ["web@2", "web@3"]);

      // An image-only revision pins nothing of its own; another app's releases count too.
      const d4 = book.newRevision(spec("web", ""), "", "deploy", 4);
      d4.state = "SUCCEEDED";
      book.live.delete("t3");
      book.newRevision(spec("api", "api@7"), "", "deploy", 4);
      assert.deepEqual(pinnedReleases(book), ["api@7", "web@3"]);

      // A deleted app whose instance still runs keeps its release pinned until it ends.
      book.live.set("a1", book.fresh(instance("api", 1, "a1")));
      book.apps.delete("api");
      assert.deepEqual(pinnedReleases(book), ["api@7", "web@3"]);
      book.live.delete("a1");
      book.revisions.delete("api");
      assert.deepEqual(pinnedReleases(book), ["web@3"]);
    } finally {
      store.close();
    }
  });

  test("PinSync sends a set once, again when it changes, and retries after a failure", async () => {
    const sent: string[][] = [];
    let fail = false;
    const stager: Stager = {
      stage: async () => ({ ok: true, error: "" }),
      setPins: async (r) => {
        if (fail) throw new Error("master unreachable");
        sent.push([...r]);
      },
      close: () => undefined,
    };
    const sync = new PinSync(stager, silentLogger);
    assert.equal(sync.sync(undefined, ["web@1"]), undefined); // not subscribed yet
    await sync.sync("fw-1", ["web@1"]);
    assert.equal(sync.sync("fw-1", ["web@1"]), undefined);
    await sync.sync("fw-1", ["web@1", "web@2"]);
    // A new framework id (re-registered from scratch) gets the set again.
    await sync.sync("fw-2", ["web@1", "web@2"]);
    assert.deepEqual(sent, [["web@1"], ["web@1", "web@2"], ["web@1", "web@2"]]);
    fail = true;
    await sync.sync("fw-2", []);
    // Backing off: no call right after the failure.
    assert.equal(sync.sync("fw-2", []), undefined);
    assert.equal(sent.length, 3);
  });
});

describe("service framework pins on a real master", () => {
  test("rm is refused while an app's revision uses the release, allowed once the app is deleted", async () => {
    const root = fs.mkdtempSync(path.join(dir, "cluster-"));
    const master = await startTestMaster(path.join(root, "master"));
    const releases = new ReleaseClient({ address: master.address, ...tlsOf("admin") });
    const service = await startServiceFramework({
      ...tlsOf("service"),
      master: master.address,
      dataDir: path.join(root, "service"),
      logger: silentLogger,
    });
    const deploy = new DeployClient({ address: service.endpoint, ...tlsOf("admin") });
    try {
      const file = randomFile(root, "web.bin", 10_000);
      await pushFile(releases, "web@1.0", file.path, 10_000);
      const frameworkId = await waitFor("subscribed", () => service.frameworkId());
      // No agents: the app never gets an instance, but its current revision is pinned.
      await deploy.apply({
        specYaml: "name: web\nrelease: web@1.0\ncommand: x\ninstances: 1\n",
        fileName: "web.yaml",
      });
      await waitFor("pinned", () => master.releases.pinsOf(frameworkId).includes("web@1.0"));
      await assert.rejects(
        releases.remove("web@1.0"),
        new RegExp(
          `release web@1\\.0 is in use by framework service \\(${frameworkId}\\): deployed revision`,
        ),
      );
      await deploy.verb("delete", "web");
      await waitFor("unpinned", () => master.releases.pinsOf(frameworkId).length === 0);
      await releases.remove("web@1.0");
    } finally {
      deploy.close();
      await service.stop();
      releases.close();
      await master.stop();
    }
  });
});
