// A master whose registry is in etcd (startMaster with an open EtcdRegistryStore), with a real
// agent and SDK framework in-process: it launches and records tasks in etcd; while etcd does
// not answer, an Accept is neither answered nor launched until its write is stored; once its
// leadership key is gone, nothing it writes is stored and nothing is promised.
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Etcd3, type Lease } from "etcd3";
import { type AgentHandle, startAgent } from "../../../agent/agent-daemon.js";
import type { Logger } from "../../../common/logger.js";
import { silentLogger } from "../../../common/logger.js";
import {
  type Offer,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../../framework-sdk/index.js";
import { type MasterHandle, startMaster } from "../../../master/master-daemon.js";
import { EtcdRegistryStore } from "../../../master/store/etcd-registry-store.js";
import { waitFor } from "../../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";
import { tlsOf } from "../../tls-fixture.js";

const TOKEN = "etcd-master-token";

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string) => {
    lines.push(`${level} ${msg}`);
  };
  return { lines, debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
}

describe("a master on the etcd registry", { timeout: 180_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "yard-etcd-master-"));
  // Tasks run as the agent's unprivileged task user: their marks go where it may write.
  const marks = join(root, "marks");
  mkdirSync(marks);
  chmodSync(root, 0o755);
  chmodSync(marks, 0o777);
  let etcd: EtcdMember;
  let client: Etcd3;
  let lease: Lease;
  let store: EtcdRegistryStore;
  const storeLog = recordingLogger();
  const fenceLost: Error[] = [];
  let master: MasterHandle;
  let agent: AgentHandle;
  let driver: SchedulerDriver;
  const offers: Offer[] = [];
  const updates: TaskStatus[] = [];

  const task = (taskId: string) =>
    taskInfo({
      taskId,
      // A launch leaves a mark: whether the agent ran it can be seen without asking the master.
      command: `touch ${join(marks, `ran-${taskId}`)} && sleep 60`,
      cpus: 0.1,
      mem: 16,
      killGraceSeconds: 1,
    });
  const ran = (taskId: string) => existsSync(join(marks, `ran-${taskId}`));
  const latest = (taskId: string) => updates.filter((u) => u.taskId === taskId).at(-1)?.state;
  /** Waits for the task to run; a task that ends instead fails the test with its state. */
  const running = async (taskId: string) => {
    const settled = [
      TaskState.TASK_RUNNING,
      TaskState.TASK_FAILED,
      TaskState.TASK_FINISHED,
      TaskState.TASK_ERROR,
    ];
    const state = await waitFor(
      `${taskId} to run`,
      () => {
        const s = latest(taskId);
        return s !== undefined && settled.includes(s) ? String(s) : undefined;
      },
      30_000,
    );
    assert.equal(
      Number(state),
      TaskState.TASK_RUNNING,
      `${taskId} ${JSON.stringify(updates.filter((u) => u.taskId === taskId).at(-1))}`,
    );
  };
  const takeOffer = () => waitFor("an offer", () => offers.shift(), 20_000, 20);

  before(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
    store = await EtcdRegistryStore.open({ client, prefix: "/yard", logger: storeLog, callTimeoutMs: 1_000 });
    lease = client.lease(30, { autoKeepAlive: true });
    await lease.put("/yard/election/test").value("me");
    const kv = (await client.get("/yard/election/test").exec()).kvs[0]!;
    await store.promote({ key: "/yard/election/test", createRevision: kv.create_revision });
    store.onFenceLost = (err) => fenceLost.push(err);
    master = await startMaster({
      ...tlsOf("master"),
      dataDir: join(root, "master"),
      port: 0,
      httpPort: 0,
      token: TOKEN,
      logger: silentLogger,
      store,
      defaultRefuseSeconds: 1,
    });
    agent = await startAgent({
      ...tlsOf("agent"),
      master: master.address,
      dataDir: join(root, "agent"),
      token: TOKEN,
      hostname: "etcd-host",
      cpus: 2,
      mem: 1024,
      disk: 1024,
      ports: [{ begin: 31100, end: 31109 }],
      logger: silentLogger,
    });
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "etcd-probe", failoverTimeoutSeconds: 60 },
      logger: silentLogger,
      callDeadlineMs: 4_000,
    });
    driver.on("offers", ({ offers: o }) => {
      offers.push(...o);
    });
    driver.on("rescind", ({ offerId }) => {
      const i = offers.findIndex((o) => o.id === offerId);
      if (i >= 0) offers.splice(i, 1);
    });
    driver.on("update", ({ status }) => {
      updates.push(status);
    });
    await driver.start();
  });

  after(async () => {
    await driver?.stop();
    await agent?.stop({ killTasks: true });
    await master?.stop();
    lease?.release();
    client?.close();
    await etcd?.destroy();
    rmSync(root, { recursive: true, force: true });
  });

  test("runs a task and keeps the registry in etcd", async () => {
    await driver.launch(await takeOffer(), [task("t1")]);
    await running("t1");
    const fw = driver.frameworkId!;
    await waitFor("t1 RUNNING in etcd", async () => {
      const v = await client.get(`/yard/registry/tasks/${fw}/t1`).string();
      return v !== null && JSON.parse(v).status.state === "TASK_RUNNING";
    });
    const agentKey = await client.get(`/yard/registry/agents/${agent.agentId()}`).string();
    assert.equal(JSON.parse(agentKey!).status, "ACTIVE");
    assert.equal(store.clusterId() !== undefined, true);
  });

  test("while etcd is stopped an Accept is neither answered nor launched; both follow its return", async () => {
    const offer = await takeOffer();
    const failedBefore = storeLog.lines.filter((l) => l.includes("writing to etcd failed")).length;
    process.kill(etcd.pid!, "SIGSTOP");
    let settled = false;
    let accepted: Promise<string[]>;
    try {
      accepted = driver.launch(offer, [task("t2")]);
      accepted.then(
        () => {
          settled = true;
        },
        () => {
          settled = true;
        },
      );
      // The master tried to store the launch and could not: the positive signal.
      await waitFor(
        "a failed write",
        () => storeLog.lines.filter((l) => l.includes("writing to etcd failed")).length > failedBefore,
      );
      assert.equal(settled, false, "the Accept is not answered");
      assert.equal(ran("t2"), false, "the task is not launched");
    } finally {
      process.kill(etcd.pid!, "SIGCONT");
    }
    // The driver's deadline may have passed meanwhile; the launch itself goes on once stored.
    await accepted.catch(() => undefined);
    await waitFor("t2 launched after etcd's return", () => ran("t2"), 60_000);
    await running("t2");
  });

  test("once its leadership key is gone, nothing it writes is stored, answered or launched", async () => {
    const offer = await takeOffer();
    await lease.revoke();
    const refused = await driver.launch(offer, [task("t3")]).then(
      () => "answered",
      (err) => String(err),
    );
    assert.equal(fenceLost.length, 1, "the refused txn was reported once");
    assert.match(refused, /DEADLINE_EXCEEDED|deadline/i, "the Accept was never answered");
    assert.equal(ran("t3"), false, "the task never reached the agent");
    const fw = driver.frameworkId!;
    assert.equal(await client.get(`/yard/registry/tasks/${fw}/t3`).string(), null);
  });
});
