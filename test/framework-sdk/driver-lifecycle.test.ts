// The driver against a real master and agent (in-process, gRPC on 127.0.0.1): stop() and
// teardown() called from inside an event listener resolve, and setInterest() reaches the
// master as suppress/revive, sent again after a re-subscription.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type AgentHandle, startAgent } from "../../agent/agent-daemon.js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { silentLogger } from "../../common/logger.js";
import { SchedulerDriver, TaskState, taskInfo } from "../../framework-sdk/index.js";
import { type MasterHandle, startMaster } from "../../master/master-daemon.js";
import { type FrameworkState, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { waitFor } from "../cluster/harness.js";
import { operatorCredentials, tlsOf } from "../tls-fixture.js";

const TOKEN = "lifecycle-token";

/** Resolves with `p`, or fails the test after `ms` (a deadlock never settles). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not resolve within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe("SchedulerDriver lifecycle against a real master", { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "yard-driver-"));
  let master: MasterHandle;
  let agent: AgentHandle;
  let op: OperatorServiceClient;
  const drivers: SchedulerDriver[] = [];

  const newDriver = (name: string) => {
    const d = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name, failoverTimeoutSeconds: 60 },
      logger: silentLogger,
    });
    drivers.push(d);
    return d;
  };
  const framework = async (id: string): Promise<FrameworkState | undefined> =>
    (await unary(op.getFrameworks, op, {}, authMetadata(TOKEN))).frameworks.find((f) => f.info?.id === id);

  before(async () => {
    master = await startMaster({
      ...tlsOf("master"),
      dataDir: join(root, "master"),
      port: 0,
      httpPort: 0,
      token: TOKEN,
      logger: silentLogger,
    });
    agent = await startAgent({
      ...tlsOf("agent"),
      master: master.address,
      dataDir: join(root, "agent"),
      token: TOKEN,
      hostname: "driver-host",
      cpus: 2,
      mem: 1024,
      disk: 1024,
      ports: [{ begin: 31100, end: 31109 }],
      logger: silentLogger,
    });
    op = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
  });

  after(async () => {
    for (const d of drivers) await d.stop();
    op?.close();
    await agent?.stop({ killTasks: true });
    await master?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("await stop() inside an offers listener resolves, and no listener runs after it", async () => {
    const driver = newDriver("stops-in-listener");
    let stopped: Promise<void> | undefined;
    let offersSeen = 0;
    let calledAfterStop = 0;
    driver.on("offers", async () => {
      offersSeen++;
      if (stopped) {
        calledAfterStop++;
        return;
      }
      stopped = driver.stop();
      await stopped;
    });
    driver.on("update", () => {
      if (stopped) calledAfterStop++;
    });
    const id = await driver.start();
    await within(
      waitFor("an offers event", () => stopped !== undefined),
      10_000,
      "the first offer",
    );
    await within(stopped!, 5_000, "stop() inside the listener");
    assert.equal(offersSeen, 1);
    assert.equal(calledAfterStop, 0);
    // Stopped, not torn down: the master waits for it to fail over.
    const fw = await waitFor("the master to see the framework gone", async () => {
      const f = await framework(id);
      return f?.status === "DISCONNECTED" && f;
    });
    assert.equal(fw.status, "DISCONNECTED");
    await within(driver.stop(), 1_000, "a second stop()");
  });

  test("await teardown() inside an update listener resolves and removes the framework", async () => {
    const driver = newDriver("tears-down-in-listener");
    let launched = false;
    let tornDown: Promise<void> | undefined;
    driver.on("offers", async ({ offers }) => {
      if (launched || !offers[0]) return;
      launched = true;
      await driver.launch(offers[0], [
        taskInfo({ taskId: "t-teardown", command: "sleep 30", cpus: 0.1, mem: 32 }),
      ]);
    });
    driver.on("update", async ({ status }) => {
      if (status.state !== TaskState.TASK_RUNNING || tornDown) return;
      tornDown = driver.teardown();
      await tornDown;
    });
    const id = await driver.start();
    await within(
      waitFor("the task to run", () => tornDown !== undefined, 15_000),
      20_000,
      "a RUNNING update",
    );
    await within(tornDown!, 5_000, "teardown() inside the listener");
    const fw = await waitFor("the framework to be removed", async () => {
      const f = await framework(id);
      return f?.status === "INACTIVE" && f;
    });
    assert.equal(fw.status, "INACTIVE");
    const tasks = await unary(
      op.getTasks,
      op,
      { frameworkId: id, agentId: "", includeTerminal: true },
      authMetadata(TOKEN),
    );
    await waitFor("its task to be killed", async () => {
      const res = await unary(
        op.getTasks,
        op,
        { frameworkId: id, agentId: "", includeTerminal: true },
        authMetadata(TOKEN),
      );
      return res.tasks.find((t) => t.info?.taskId === "t-teardown")?.status?.state === TaskState.TASK_KILLED;
    });
    assert.ok(tasks.tasks.length >= 1);
  });

  test("stop() from outside still delivers the events received before it", async () => {
    const driver = newDriver("stops-outside");
    let inListener = false;
    let finished = false;
    driver.on("offers", async () => {
      inListener = true;
      await new Promise((r) => setTimeout(r, 200));
      finished = true;
    });
    await driver.start();
    await waitFor("an offer to be in delivery", () => inListener, 10_000);
    await within(driver.stop(), 5_000, "stop() from outside");
    assert.equal(finished, true, "stop() waited for the listener it found running");
  });

  test("setInterest() suppresses and revives, and is sent again after a re-subscription", async () => {
    const driver = newDriver("interest");
    let offers = 0;
    driver.on("offers", () => {
      offers++;
    });
    const id = await driver.start();
    await driver.setInterest(false);
    assert.equal((await framework(id))?.suppressed, true);
    await driver.setInterest(false); // no change: nothing sent
    const before = offers;
    await driver.setInterest(true);
    assert.equal((await framework(id))?.suppressed, false);
    await waitFor("an offer after revive", () => offers > before, 10_000);

    // A new subscription (another driver taking over the id) starts from what the master
    // stored; the driver tells it again what it wants.
    await driver.setInterest(false);
    const successor = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "interest", id, secret: driver.secret, failoverTimeoutSeconds: 60 },
      logger: silentLogger,
    });
    drivers.push(successor);
    await successor.setInterest(true);
    await successor.start();
    await waitFor(
      "the successor's interest to reach the master",
      async () => (await framework(id))?.suppressed === false,
    );
  });
});
