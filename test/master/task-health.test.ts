// Task health travels with the status like any field: the agent's verdict reaches the
// framework, is stored with the task's latest status, and a restarted master answers a
// Reconcile with it. Real master and agent (in-process, gRPC on 127.0.0.1), real SDK driver.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type AgentHandle, startAgent } from "../../agent/agent-daemon.js";
import { silentLogger } from "../../common/logger.js";
import {
  type Offer,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { type MasterHandle, startMaster } from "../../master/master-daemon.js";
import { HealthCheck, HealthState } from "../../proto/gen/yard/v1/common.js";
import { waitFor } from "../cluster/harness.js";
import { tlsOf } from "../tls-fixture.js";

const TOKEN = "health-test-token";

describe("task health through the master", { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "yard-task-health-"));
  let master: MasterHandle | undefined;
  let agent: AgentHandle | undefined;
  let driver: SchedulerDriver | undefined;

  after(async () => {
    await driver?.stop();
    await agent?.stop({ killTasks: true });
    await master?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const start = (port: number) =>
    startMaster({
      ...tlsOf("master"),
      dataDir: join(root, "master"),
      port,
      httpPort: 0,
      token: TOKEN,
      logger: silentLogger,
      agentTimeoutMs: 2_000,
    });

  test("a reconcile answer of a restarted master carries the task's health; the master's own updates keep the last verdict", async () => {
    master = await start(0);
    const port = Number(master.address.split(":").pop());
    const agentOptions = {
      ...tlsOf("agent"),
      master: master.address,
      dataDir: join(root, "agent"),
      token: TOKEN,
      cpus: 1,
      mem: 256,
      disk: 256,
      logger: silentLogger,
    };
    agent = await startAgent(agentOptions);
    const offers: Offer[] = [];
    const updates: TaskStatus[] = [];
    let subscriptions = 0;
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "health-probe", failoverTimeoutSeconds: 60 },
      logger: silentLogger,
    });
    driver.on("offers", (e) => {
      offers.push(...e.offers);
    });
    driver.on("update", (e) => {
      updates.push(e.status);
    });
    driver.on("subscribed", () => {
      subscriptions++;
    });
    await driver.start();
    const offer = await waitFor("an offer", () => offers.shift());
    const task = taskInfo({
      taskId: "t-health",
      command: "sleep 60",
      cpus: 0.1,
      mem: 32,
      killGraceSeconds: 1,
      healthCheck: HealthCheck.fromPartial({
        kind: "command",
        command: "true",
        intervalSeconds: 0.2,
        failures: 1,
      }),
    });
    await driver.launch(offer, [task]);
    const healthy = await waitFor("a healthy update", () =>
      updates.find((u) => u.taskId === "t-health" && u.health?.state === HealthState.HEALTH_HEALTHY),
    );
    assert.equal(healthy.state, TaskState.TASK_RUNNING);
    assert.ok(healthy.health!.lastCheck > 0);

    await master.stop();
    master = await start(port);
    await waitFor("the framework to subscribe again", () => subscriptions >= 2, 30_000);
    const mark = updates.length;
    await driver.reconcile(["t-health"]);
    const answer = await waitFor("the reconcile answer", () =>
      updates.slice(mark).find((u) => u.taskId === "t-health" && u.uuid === ""),
    );
    assert.equal(answer.state, TaskState.TASK_RUNNING);
    assert.equal(answer.health?.state, HealthState.HEALTH_HEALTHY);
    assert.equal(answer.health?.lastCheck, healthy.health!.lastCheck);
    assert.equal(answer.timestamp, healthy.timestamp, "the stored status is the agent's, unchanged");

    // The agent goes silent (its task runs on): the master's own update keeps the last verdict.
    await agent.stop();
    const fromMaster = await waitFor(
      "the master's update for the silent agent's task",
      () => updates.find((u) => u.taskId === "t-health" && u.source === "master" && u.uuid !== ""),
      30_000,
    );
    assert.notEqual(fromMaster.state, TaskState.TASK_RUNNING);
    assert.equal(fromMaster.health?.state, HealthState.HEALTH_HEALTHY);
    agent = await startAgent(agentOptions); // so that the task is killed at the end
  });
});
