// Release pins on a real in-process master: SetPins validation, Remove refused while a
// framework pins the release (with the framework named), pins moving on, surviving a master
// restart, and dropped when the framework is torn down. Plus the pin book's pure rules.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ReleaseClient } from "../../../cli/commands/release.js";
import { silentLogger } from "../../../common/logger.js";
import {
  GrpcStatus,
  ReleaseStaging,
  SchedulerCallError,
  SchedulerDriver,
} from "../../../framework-sdk/index.js";
import type { MasterHandle } from "../../../master/master-daemon.js";
import { PinBook } from "../../../master/releases/pins.js";
import { pushFile, randomFile, removeDir, startTestMaster, tempDir } from "./helpers.js";
import { tlsOf } from "../../tls-fixture.js";

function codeOf(err: unknown): number | undefined {
  return err instanceof SchedulerCallError ? err.code : undefined;
}

describe("pin book", () => {
  test("set replaces a framework's pins; removed frameworks are pruned", () => {
    const live = new Set(["fw-a", "fw-b"]);
    const persisted: [string, string[]][] = [];
    const pins = new PinBook(
      { persist: (fw, r) => persisted.push([fw, [...r]]), isLive: (fw) => live.has(fw), now: () => 1 },
      [{ frameworkId: "fw-a", release: "web@1", pinnedAt: 0 }],
    );
    assert.deepEqual(pins.pinners("web@1"), ["fw-a"]);
    pins.set("fw-b", ["web@2", "web@1", "web@2"]);
    assert.deepEqual(pins.of("fw-b"), ["web@1", "web@2"]);
    assert.deepEqual(pins.pinners("web@1"), ["fw-a", "fw-b"]);
    pins.set("fw-a", ["web@3"]);
    assert.deepEqual(pins.pinners("web@1"), ["fw-b"]);
    live.delete("fw-b");
    assert.deepEqual(pins.pinners("web@1"), []);
    assert.deepEqual(pins.of("fw-b"), []);
    assert.deepEqual(persisted.at(-1), ["fw-b", []]);
  });
});

describe("release pins", () => {
  const dir = tempDir("release-pins");
  const dataDir = join(dir, "master");
  let master: MasterHandle;
  let client: ReleaseClient;
  const v1 = randomFile(dir, "v1.bin", 50_000);
  const v2 = randomFile(dir, "v2.bin", 50_000);
  const drivers: SchedulerDriver[] = [];
  const stagings: ReleaseStaging[] = [];

  async function framework(name: string, id?: string, secret?: string) {
    const driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      framework: { name, id, secret, failoverTimeoutSeconds: 600 },
      logger: silentLogger,
    });
    drivers.push(driver);
    const frameworkId = await driver.start();
    const staging = new ReleaseStaging({
      ...tlsOf("framework"),
      master: master.address,
      driver,
      logger: silentLogger,
    });
    stagings.push(staging);
    return { driver, staging, frameworkId };
  }

  async function closeClients() {
    for (const s of stagings.splice(0)) s.close();
    for (const d of drivers.splice(0)) await d.stop();
    client?.close();
  }

  before(async () => {
    master = await startTestMaster(dataDir);
    client = new ReleaseClient({ address: master.address, ...tlsOf("admin") });
    await pushFile(client, "web@1.0", v1.path, 50_000);
    await pushFile(client, "web@2.0", v2.path, 50_000);
  });
  after(async () => {
    await closeClients();
    await master.stop();
    removeDir(dir);
  });

  test("SetPins checks the framework and every release, naming the field", async () => {
    const { staging, frameworkId } = await framework("checker");
    await assert.rejects(staging.setPins(["web@1.0", "nope@1"]), (err) => {
      assert.equal(codeOf(err), GrpcStatus.NOT_FOUND);
      assert.match(String(err), /releases\[1\]: release nope@1 not found/);
      return true;
    });
    await assert.rejects(staging.setPins(["web@1.0", "web"]), /releases\[1\]: "web" is not NAME@VERSION/);
    // Nothing was applied by the refused calls.
    assert.deepEqual(master.releases.pinsOf(frameworkId), []);

    const stranger = new ReleaseStaging({
      ...tlsOf("framework"),
      master: master.address,
      driver: { frameworkId: "fw-unknown" },
      logger: silentLogger,
    });
    stagings.push(stranger);
    await assert.rejects(stranger.setPins(["web@1.0"]), (err) => {
      assert.equal(codeOf(err), GrpcStatus.NOT_FOUND);
      assert.match(String(err), /framework_id: framework fw-unknown not found/);
      return true;
    });
  });

  test("rm is refused while a framework pins the release and allowed once the pins move on", async () => {
    const { staging, frameworkId } = await framework("service");
    await staging.setPins(["web@1.0", "web@2.0"]);
    assert.deepEqual(master.releases.pinsOf(frameworkId), ["web@1.0", "web@2.0"]);
    await assert.rejects(client.remove("web@1.0"), (err) => {
      assert.match(
        String((err as Error).message),
        new RegExp(
          `release web@1\\.0 is in use by framework service \\(${frameworkId}\\): deployed revision`,
        ),
      );
      return true;
    });
    // The app moved on to 2.0: 1.0 is free, 2.0 is not.
    await staging.setPins(["web@2.0"]);
    await assert.rejects(client.remove("web@2.0"), /in use by framework service/);
    await pushFile(client, "web@1.5", v1.path, 50_000);
    await staging.setPins(["web@2.0", "web@1.5"]);
    await client.remove("web@1.0");
    assert.ok(!(await client.list()).releases.some((r) => r.version === "1.0"));
  });

  test("pins survive a master restart and are dropped when the framework is torn down", async () => {
    const pinned = master.releases.list().map((r) => `${r.name}@${r.version}`);
    assert.deepEqual(pinned.sort(), ["web@1.5", "web@2.0"]);
    const serviceId = drivers[1]!.frameworkId!;
    const serviceSecret = drivers[1]!.secret;
    await closeClients();
    await master.stop();

    master = await startTestMaster(dataDir);
    client = new ReleaseClient({ address: master.address, ...tlsOf("admin") });
    assert.deepEqual(master.releases.pinsOf(serviceId), ["web@1.5", "web@2.0"]);
    await assert.rejects(client.remove("web@2.0"), /in use by framework service/);

    const { driver } = await framework("service", serviceId, serviceSecret);
    await driver.teardown();
    await client.remove("web@2.0");
    await client.remove("web@1.5");
    assert.deepEqual(master.releases.pinsOf(serviceId), []);
    assert.deepEqual((await client.list()).releases, []);
  });
});
