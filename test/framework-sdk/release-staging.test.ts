// The SDK's ReleaseStaging against a real in-process master with a pushed release; the agents
// are raw AgentService streams that report fetch progress as a real agent would.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ReleaseClient } from "../../cli/commands/release.js";
import { silentLogger } from "../../common/logger.js";
import {
  DriverStoppedError,
  GrpcStatus,
  NotSubscribedError,
  ReleaseStaging,
  SchedulerCallError,
  SchedulerDriver,
  SdkArgumentError,
  StagingFailedError,
  type StageProgress,
} from "../../framework-sdk/index.js";
import type { MasterHandle } from "../../master/master-daemon.js";
import {
  pushFile,
  RawAgent,
  randomFile,
  removeDir,
  startTestMaster,
  tempDir,
  waitFor,
} from "../master/releases/helpers.js";
import { tlsOf } from "../tls-fixture.js";

const SIZE = 40_000;

describe("release staging (SDK)", () => {
  const dir = tempDir("sdk-staging");
  const file = randomFile(dir, "web.bin", SIZE);
  let master: MasterHandle;
  let client: ReleaseClient;
  let staging: ReleaseStaging;
  const agents: RawAgent[] = [];

  function report(agent: RawAgent, state: string, downloaded: number, error = ""): void {
    agent.send({
      fetchProgress: {
        release: "web@1.0",
        sha256: file.sha256,
        state,
        downloaded,
        uploaded: 0,
        size: SIZE,
        downloadRate: 500,
        uploadRate: 0,
        error,
      },
    });
  }

  async function agent(hostname: string): Promise<RawAgent> {
    const a = new RawAgent(master.address);
    agents.push(a);
    await a.register(hostname);
    return a;
  }

  before(async () => {
    master = await startTestMaster(join(dir, "master"));
    client = new ReleaseClient({ address: master.address, ...tlsOf("admin") });
    await pushFile(client, "web@1.0", file.path, SIZE);
    staging = new ReleaseStaging({
      ...tlsOf("framework"),
      master: master.address,
      logger: silentLogger,
      callDeadlineMs: 5_000,
    });
  });
  after(async () => {
    staging.close();
    for (const a of agents) a.close();
    client.close();
    await master.stop();
    removeDir(dir);
  });

  test("bad arguments are refused naming the field and the value", async () => {
    assert.throws(
      () => new ReleaseStaging({ ...tlsOf("framework"), master: "nohost" }),
      /master: "nohost" is not host:port/,
    );
    assert.throws(
      () => new ReleaseStaging({ ...tlsOf("framework"), master: "127.0.0.1:1", callDeadlineMs: -1 }),
      /callDeadlineMs: -1 is not a positive number/,
    );
    await assert.rejects(staging.stage("web"), (err) => {
      assert.ok(err instanceof SdkArgumentError);
      assert.equal(err.field, "release");
      assert.match(err.message, /"web" is not NAME@VERSION/);
      return true;
    });
    assert.throws(() => staging.watchStage("web@1.0", ["a1", ""]), /agentIds\[1\]: "" is not an agent id/);
  });

  test("stage asks the agents and watchStage yields typed progress until every one holds it", async () => {
    const a = await agent("host-a");
    const b = await agent("host-b");
    const first = await staging.stage("web@1.0", [a.agentId, b.agentId]);
    assert.equal(first.release, "web@1.0");
    assert.equal(first.complete, false);
    assert.deepEqual(
      first.agents.map((x) => [x.hostname, x.state, x.size]),
      [
        ["host-a", "PENDING", SIZE],
        ["host-b", "PENDING", SIZE],
      ],
    );
    await waitFor(
      "fetch commands",
      () => a.received.some((m) => m.fetchArtifact) && b.received.some((m) => m.fetchArtifact),
    );

    const seen: StageProgress[] = [];
    const watching = (async () => {
      for await (const p of staging.watchStage("web@1.0", [a.agentId, b.agentId])) seen.push(p);
    })();
    await waitFor("first progress", () => seen.length > 0);
    report(a, "FETCHING", SIZE / 2);
    await waitFor("fetching", () => seen.some((p) => p.agents[0]?.state === "FETCHING"));
    report(a, "DONE", SIZE);
    report(b, "DONE", SIZE);
    await watching; // the iteration ends by itself after the complete progress
    const last = seen.at(-1)!;
    assert.equal(last.complete, true);
    assert.equal(last.failed, false);
    assert.deepEqual(
      last.agents.map((x) => [x.hostname, x.state, x.downloaded]),
      [
        ["host-a", "DONE", SIZE],
        ["host-b", "DONE", SIZE],
      ],
    );
    const fetching = seen.find((p) => p.agents[0]?.state === "FETCHING")!;
    assert.equal(fetching.agents[0]!.downloaded, SIZE / 2);
    assert.equal(fetching.agents[0]!.downloadRate, 500);

    // Idempotent: staging again on holders is complete at once.
    const again = await staging.stageAndWait("web@1.0", [a.agentId, b.agentId]);
    assert.equal(again.complete, true);
  });

  test("stageAndWait rejects with StagingFailedError naming the failed agent", async () => {
    const c = await agent("host-c");
    const progress: StageProgress[] = [];
    const waiting = staging.stageAndWait("web@1.0", [c.agentId], (p) => progress.push(p));
    await waitFor("fetch command", () => c.received.some((m) => m.fetchArtifact));
    await waitFor("watching", () => progress.length > 0);
    report(c, "FAILED", 0, "disk full");
    await assert.rejects(waiting, (err) => {
      assert.ok(err instanceof StagingFailedError);
      assert.match(err.message, /staging web@1\.0 failed on 1 agent\(s\): host-c: disk full/);
      assert.equal(err.progress.agents[0]?.state, "FAILED");
      return true;
    });
  });

  test("calls the master refuses reject with SchedulerCallError and the master's details", async () => {
    await assert.rejects(staging.stage("nope@1"), (err) => {
      assert.ok(err instanceof SchedulerCallError);
      assert.equal(err.code, GrpcStatus.NOT_FOUND);
      assert.equal(err.method, "Stage");
      assert.match(err.details, /release nope@1 not found/);
      return true;
    });
    await assert.rejects(
      (async () => {
        for await (const _ of staging.watchStage("web@1.0", ["agent-x"])) void _;
      })(),
      (err) => {
        assert.ok(err instanceof SchedulerCallError);
        assert.equal(err.code, GrpcStatus.NOT_FOUND);
        assert.match(err.details, /agent_ids\[0\]: agent agent-x not found/);
        return true;
      },
    );
  });

  test("break cancels a watch; close() ends open watches with DriverStoppedError", async () => {
    const d = await agent("host-d");
    for await (const p of staging.watchStage("web@1.0", [d.agentId])) {
      assert.equal(p.agents[0]?.state, "PENDING");
      break;
    }
    const own = new ReleaseStaging({ ...tlsOf("framework"), master: master.address, logger: silentLogger });
    const it = own.watchStage("web@1.0", [d.agentId]);
    const first = await it.next();
    assert.equal(first.done, false);
    const pending = it.next();
    own.close();
    await assert.rejects(pending, DriverStoppedError);
    await assert.rejects(own.stage("web@1.0"), DriverStoppedError);
  });

  test("setPins needs a subscribed driver and pins for its framework", async () => {
    await assert.rejects(staging.setPins(["web@1.0"]), NotSubscribedError);
    const driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      framework: { name: "pinner" },
      logger: silentLogger,
    });
    const pinning = new ReleaseStaging({
      ...tlsOf("framework"),
      master: master.address,
      driver,
      logger: silentLogger,
    });
    try {
      const id = await driver.start();
      await assert.rejects(pinning.setPins(["web"]), /releases\[0\]: "web" is not NAME@VERSION/);
      await pinning.setPins(["web@1.0"]);
      assert.deepEqual(master.releases.pinsOf(id), ["web@1.0"]);
      await assert.rejects(client.remove("web@1.0"), /in use by framework pinner/);
      await pinning.setPins([]);
      assert.deepEqual(master.releases.pinsOf(id), []);
    } finally {
      pinning.close();
      await driver.stop();
    }
  });
});
