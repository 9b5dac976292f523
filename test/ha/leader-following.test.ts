// Clients find and follow the leader among several masters: an agent, an SDK framework and
// yardctl, each given a list whose first entry is a standby (it answers every call with the
// not-the-leader status naming the real master) or a dead port, reach the real master and
// work. The real master is a process; the standby is a real gRPC server in this process that
// answers every method of the master's services with the redirect (standby-stub.ts).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { freePort } from "../etcd-fixture.js";
import {
  ReleaseStaging,
  SchedulerDriver,
  type TaskStatus,
  TaskState,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";
import { AgentServiceService } from "../../proto/gen/yard/v1/agent.js";
import { OperatorServiceService } from "../../proto/gen/yard/v1/operator.js";
import { ReleaseServiceService } from "../../proto/gen/yard/v1/release.js";
import { SchedulerServiceService } from "../../proto/gen/yard/v1/scheduler.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { tlsOf } from "../tls-fixture.js";
import { type StandbyStub, startStandbyStub } from "./standby-stub.js";

const SERVICES = [
  AgentServiceService,
  OperatorServiceService,
  SchedulerServiceService,
  ReleaseServiceService,
];

describe("leader following (real master, standby answering every call with the redirect)", () => {
  const cluster = new TestCluster();
  let standby: StandbyStub;
  /** A standby that knows no leader yet (an election under way). */
  let leaderless: StandbyStub;
  /** Nothing listens there. */
  let dead: string;
  const drivers: SchedulerDriver[] = [];

  before(async () => {
    await cluster.startMaster();
    standby = await startStandbyStub(SERVICES, cluster.masterAddress);
    leaderless = await startStandbyStub(SERVICES, undefined);
    dead = `127.0.0.1:${await freePort()}`;
  });

  after(async () => {
    for (const d of drivers) await d.stop();
    await standby?.stop();
    await leaderless?.stop();
    await cluster.stop();
  });

  test("agents given standby,real and deadport,real register with the real master", async () => {
    await cluster.startAgent({ extraArgs: ["--master", `${standby.address},${cluster.masterAddress}`] });
    await cluster.startAgent({ extraArgs: ["--master", `${dead},${cluster.masterAddress}`] });
    const agents = await cluster.waitForAgents(2, 30_000);
    assert.deepEqual(agents.map((a) => a.info?.hostname).sort(), ["host-0", "host-1"]);
    // The first agent dialled the standby first and was sent on by it.
    assert.ok(standby.calls("Connect") >= 1, "the standby was asked to register the agent");
  });

  for (const first of ["standby", "deadport"] as const) {
    test(`a framework given ${first},real subscribes and launches a task on the real master`, async () => {
      const firstAddress = first === "standby" ? standby.address : dead;
      const subscribesBefore = standby.calls("Subscribe");
      const taskId = `follow-${first}`;
      const updates: TaskStatus[] = [];
      let launched = false;
      const driver = new SchedulerDriver({
        ...tlsOf("framework"),
        master: [firstAddress, cluster.masterAddress],
        token: cluster.token,
        framework: { name: `follow-${first}` },
      });
      drivers.push(driver);
      driver.on("offers", async ({ offers }) => {
        for (const offer of offers) {
          const placed = launched ? [] : takeTasks(offer, [{ cpus: 0.1, mem: 16 }]).placed;
          if (placed.length === 0) {
            await driver.decline([offer.id], { refuseSeconds: 1 }).catch(() => undefined);
            continue;
          }
          launched = true;
          const task = taskInfo({ taskId, command: "echo followed", cpus: 0.1, mem: 16 });
          await driver.launch(offer, [task]).catch(() => {
            launched = false;
          });
        }
      });
      driver.on("update", ({ status }) => {
        if (status.taskId === taskId) updates.push(status);
      });
      await driver.start();
      assert.equal(driver.master, cluster.masterAddress);
      if (first === "standby") assert.ok(standby.calls("Subscribe") > subscribesBefore);
      await waitFor(
        `task ${taskId} to finish`,
        () => updates.some((u) => u.state === TaskState.TASK_FINISHED),
        30_000,
      );
      await driver.teardown();
    });
  }

  test("SDK unary calls on a standby go to the leader it names", async () => {
    const before = standby.calls("Status");
    const staging = new ReleaseStaging({
      ...tlsOf("framework"),
      master: `${standby.address},${cluster.masterAddress}`,
      token: cluster.token,
    });
    try {
      // The real master answers (it holds no such release): the standby's redirect was followed.
      assert.equal(await staging.describe("nothing@1"), undefined);
      assert.equal(standby.calls("Status"), before + 1);
    } finally {
      staging.close();
    }
  });

  const getAgents = (master: string) => cluster.yardctl(["get", "agents", "-o", "json", "--master", master]);

  test("yardctl get agents follows a standby, passes a dead master and a leaderless standby", async () => {
    for (const list of [
      `${standby.address},${cluster.masterAddress}`,
      `${dead},${cluster.masterAddress}`,
      `${leaderless.address}, ${cluster.masterAddress}`,
      // The leader is named by the standby though the operator did not list it.
      standby.address,
    ]) {
      const r = await getAgents(list);
      assert.equal(r.code, 0, `--master ${list}: ${r.stderr}`);
      assert.match(r.stdout, /host-0/);
    }
  });

  test("yardctl streams (events) go to the leader", async () => {
    const before = standby.calls("Watch");
    const r = await cluster.yardctl(["events", "--master", `${standby.address},${cluster.masterAddress}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /agent/i);
    assert.equal(standby.calls("Watch"), before + 1);
  });

  test("yardctl exits unreachable (3) when no master answers, or none leads", async () => {
    const none = await getAgents(`${dead}`);
    assert.equal(none.code, 3, none.stderr);
    assert.match(none.stderr, /cannot reach the master/);
    const noLeader = await getAgents(leaderless.address);
    assert.equal(noLeader.code, 3, noLeader.stderr);
    assert.match(noLeader.stderr, /no leader among the master/);
  });

  test("yardctl names a bad entry of the list and exits 2", async () => {
    const r = await getAgents(`${cluster.masterAddress},nohost`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--master ".*nohost": entry "nohost": not HOST:PORT/);
  });
});
