// yardctl kill and logs with --framework: the task is named by (framework, id), as the wire
// carries it (KillTaskRequest.framework_id, GetTaskLogsRequest.framework_id, ReadLogs.framework_id).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../common/logger.js";
import { type Offer, SchedulerDriver, TaskState, taskInfo } from "../../framework-sdk/index.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { tlsOf } from "../tls-fixture.js";

const cluster = new TestCluster();
let driver: SchedulerDriver | undefined;

before(async () => {
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 1, mem: 256 });
  await cluster.waitForAgents(1);
});

after(async () => {
  await driver?.stop();
  await cluster.stop();
});

describe("yardctl kill / logs --framework", () => {
  test("a task is found with its own framework only", async () => {
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: cluster.masterAddress,
      token: cluster.token,
      framework: { name: "flag-test" },
      logger: silentLogger,
    });
    let offer: Offer | undefined;
    driver.on("offers", ({ offers }) => {
      offer ??= offers[0];
    });
    const states: TaskState[] = [];
    driver.on("update", ({ status }) => {
      if (status.taskId === "t-op") states.push(status.state);
    });
    const id = await driver.start();
    await waitFor("an offer", () => offer);
    await driver.launch(offer!, [
      taskInfo({
        taskId: "t-op",
        command: "echo hello-from-t-op; sleep 30",
        cpus: 0.1,
        mem: 32,
        killGraceSeconds: 1,
      }),
    ]);
    await waitFor("t-op to run", () => states.includes(TaskState.TASK_RUNNING));

    const wrongKill = await cluster.yardctl(["kill", "t-op", "--framework", "fw-someone-else"]);
    assert.equal(wrongKill.code, 4, wrongKill.stderr);
    assert.match(wrongKill.stderr, /task "t-op" not found/);
    const wrongLogs = await cluster.yardctl(["logs", "t-op", "--framework", "fw-someone-else"]);
    assert.equal(wrongLogs.code, 4, wrongLogs.stderr);

    const logs = await waitFor("the task's output", async () => {
      const r = await cluster.yardctl(["logs", "t-op", "--framework", id]);
      return r.code === 0 && r.stdout.includes("hello-from-t-op") && r;
    });
    assert.equal(logs.code, 0);

    const kill = await cluster.yardctl(["kill", "t-op", "--framework", id]);
    assert.equal(kill.code, 0, kill.stderr);
    await waitFor("t-op to be killed", () => states.includes(TaskState.TASK_KILLED));
  });
});
