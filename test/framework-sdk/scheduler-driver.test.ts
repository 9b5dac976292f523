import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import {
  type DriverEvent,
  DriverStoppedError,
  FrameworkRemovedError,
  NotSubscribedError,
  SchedulerCallError,
  SchedulerDriver,
  type SchedulerDriverOptions,
  silentLogger,
  TaskState,
  taskInfo,
} from "../../framework-sdk/index.js";
import { Event_Type } from "../../proto/gen/yard/v1/scheduler.js";
import { FakeMaster } from "./fake-master.js";
import { tlsOf } from "../tls-fixture.js";

const until = FakeMaster.until;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function setup(masterOpts = {}, driverOpts: Partial<SchedulerDriverOptions> = {}) {
  const master = await new FakeMaster(masterOpts).start();
  const driver = new SchedulerDriver({
    ...tlsOf("framework"),
    master: master.address,
    framework: { name: "test-fw", endpoint: "127.0.0.1:9999", ...(driverOpts.framework ?? {}) },
    logger: silentLogger,
    backoff: { initialMs: 20, maxMs: 100 },
    ...driverOpts,
  });
  cleanups.push(async () => {
    await driver.stop();
    await master.stop();
  });
  return { master, driver };
}

const offer = {
  id: "offer-1",
  frameworkId: "",
  agentId: "agent-1",
  hostname: "h1",
  resources: { cpus: 4, mem: 4096, disk: 0, ports: [{ begin: 31000, end: 31010 }] },
  attributes: [],
  executors: ["process"],
  releases: [],
};

describe("SchedulerDriver", () => {
  test("start() subscribes with the framework info and the token, and resolves with the id", async () => {
    const { master, driver } = await setup({ token: "s3cret" }, { token: "s3cret" });
    const id = await driver.start();
    assert.match(id, /^fw-/);
    assert.equal(driver.frameworkId, id);
    const info = master.subscriptions[0].frameworkInfo!;
    assert.equal(info.name, "test-fw");
    assert.equal(info.role, "*");
    assert.equal(info.failoverTimeoutSeconds, 60);
    assert.equal(info.endpoint, "127.0.0.1:9999");
    assert.equal(info.id, "");
    await driver.suppress();
    assert.equal(master.callsOf("Suppress")[0].authorization, "Bearer s3cret");
    assert.equal(master.callsOf("Suppress")[0].request.frameworkId, id);
  });

  test("a wrong token is fatal: start() rejects with UNAUTHENTICATED", async () => {
    const { driver } = await setup({ token: "right" }, { token: "wrong" });
    await assert.rejects(driver.start(), (err: unknown) => {
      assert.ok(err instanceof SchedulerCallError);
      assert.equal(err.code, status.UNAUTHENTICATED);
      return true;
    });
  });

  test("calls before subscription fail with NotSubscribedError", async () => {
    const { driver } = await setup();
    await assert.rejects(driver.decline(["o"]), NotSubscribedError);
  });

  test("offers reach listeners and iterators; launch builds one LAUNCH on the offer's agent", async () => {
    const { master, driver } = await setup();
    const seen: string[] = [];
    driver.on("offers", ({ offers }) => {
      seen.push(offers[0].id);
    });
    const iter = driver.events();
    await driver.start();
    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer] } });
    const first = (await iter.next()).value as DriverEvent;
    assert.equal(first.type, "subscribed");
    const second = (await iter.next()).value as DriverEvent;
    assert.equal(second.type, "offers");
    if (second.type === "offers") assert.equal(second.offers[0].id, "offer-1");
    await until(() => seen.length === 1, 2000, "offers listener");
    await iter.return!();

    const task = taskInfo({ taskId: "t1", command: "echo hi", cpus: 1, mem: 64 });
    const ids = await driver.launch(offer, [task], { refuseSeconds: 7 });
    assert.deepEqual(ids, ["t1"]);
    const req = master.callsOf("Accept")[0].request;
    assert.deepEqual(req.offerIds, ["offer-1"]);
    assert.equal(req.operations.length, 1);
    assert.equal(req.operations[0].launch.tasks[0].agentId, "agent-1");
    assert.equal(req.operations[0].launch.tasks[0].command.shell, true);
    assert.equal(req.filters.refuseSeconds, 7);
  });

  test("gRPC errors become SchedulerCallError with the master's code and message", async () => {
    const { master, driver } = await setup();
    await driver.start();
    const details = "operations[0].launch.tasks[0].resources.mem: 4096 is more than the offer's 2048";
    master.refuse.set("Accept", { code: status.INVALID_ARGUMENT, details });
    await assert.rejects(driver.accept(["offer-1"], []), (err: unknown) => {
      assert.ok(err instanceof SchedulerCallError);
      assert.equal(err.code, status.INVALID_ARGUMENT);
      assert.equal(err.codeName, "INVALID_ARGUMENT");
      assert.equal(err.details, details);
      assert.equal(err.method, "Accept");
      return true;
    });
  });

  test("reconcileKnown asks for the known tasks, then for all; with none known, only for all", async () => {
    const { master, driver } = await setup();
    await driver.start();
    await driver.reconcileKnown(["t1", "t2"]);
    await driver.reconcileKnown([]);
    assert.deepEqual(
      master.callsOf("Reconcile").map((c) => c.request.taskIds),
      [["t1", "t2"], [], []],
    );
  });

  test("updates are acknowledged after async listeners ran; reconciliation answers are not", async () => {
    const { master, driver } = await setup();
    const order: string[] = [];
    driver.on("update", async ({ status: s }) => {
      await new Promise((r) => setTimeout(r, 30));
      order.push(`handled ${s.taskId} acks=${master.callsOf("Acknowledge").length}`);
    });
    await driver.start();
    master.sendUpdate({ taskId: "t1", state: TaskState.TASK_RUNNING, uuid: "u-1" });
    master.sendUpdate({ taskId: "t2", state: TaskState.TASK_RUNNING, uuid: "" });
    await until(() => order.length === 2, 2000, "two updates");
    await until(() => master.callsOf("Acknowledge").length === 1, 2000, "ack");
    assert.deepEqual(order, ["handled t1 acks=0", "handled t2 acks=1"]);
    const ack = master.callsOf("Acknowledge")[0].request;
    assert.equal(ack.taskId, "t1");
    assert.equal(ack.uuid, "u-1");
  });

  test("a listener that throws leaves the update unacknowledged", async () => {
    const { master, driver } = await setup();
    driver.on("update", ({ status: s }) => {
      if (s.taskId === "t1") throw new Error("boom");
    });
    let handled = 0;
    driver.on("update", () => {
      handled++;
    });
    await driver.start();
    master.sendUpdate({ taskId: "t1", state: TaskState.TASK_FINISHED, uuid: "u-1" });
    // t2, handled after t1, is acknowledged: by then t1's ack would have gone too.
    master.sendUpdate({ taskId: "t2", state: TaskState.TASK_FINISHED, uuid: "u-2" });
    await until(() => handled === 2, 2000, "updates");
    await until(() => master.callsOf("Acknowledge").length > 0, 2000, "t2's ack");
    const acked = master.callsOf("Acknowledge").flatMap((c) => [c.request, ...(c.request.acks ?? [])]);
    assert.deepEqual(acked.map((a) => a.taskId).filter(Boolean), ["t2"]);
  });

  test("autoAcknowledge false leaves acknowledgement to the framework", async () => {
    const { master, driver } = await setup({}, { autoAcknowledge: false });
    const statuses: any[] = [];
    driver.on("update", ({ status: s }) => {
      statuses.push(s);
    });
    await driver.start();
    master.sendUpdate({ taskId: "t1", state: TaskState.TASK_FINISHED, uuid: "u-9" });
    await until(() => statuses.length === 1, 2000, "update");
    await driver.acknowledge(statuses[0]);
    // An automatic ack would have been sent in the tick after the listener, before this one.
    assert.equal(master.callsOf("Acknowledge").length, 1);
    assert.equal(master.callsOf("Acknowledge")[0].request.uuid, "u-9");
  });

  test("a broken stream is re-subscribed with the framework id", async () => {
    const { master, driver } = await setup();
    const events: string[] = [];
    driver.on("subscribed", ({ reconnected }) => {
      events.push(`subscribed reconnected=${reconnected}`);
    });
    driver.on("disconnected", () => {
      events.push("disconnected");
    });
    const id = await driver.start();
    master.breakStreams();
    await until(() => master.subscriptions.length === 2, 3000, "re-subscription");
    assert.equal(master.subscriptions[1].frameworkInfo!.id, id);
    await until(() => events.length === 3, 2000, "events");
    assert.deepEqual(events, ["subscribed reconnected=false", "disconnected", "subscribed reconnected=true"]);
    assert.equal(driver.frameworkId, id);
  });

  test("a restarted master on the same port gets the re-subscription", async () => {
    const first = await new FakeMaster().start();
    const port = first.port;
    const driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: first.address,
      framework: { name: "fw" },
      logger: silentLogger,
      backoff: { initialMs: 20, maxMs: 100 },
    });
    const id = await driver.start();
    await first.stop();
    const second = new FakeMaster();
    second.known.add(id);
    await second.start(port);
    cleanups.push(async () => {
      await driver.stop();
      await second.stop();
    });
    await until(
      () => second.subscriptions.length >= 1 && second.streams.length === 1,
      8000,
      "re-subscription",
    );
    assert.equal(second.subscriptions[0].frameworkInfo!.id, id);
  });

  test("silence past three heartbeat intervals breaks the stream and re-subscribes", async () => {
    const { master, driver } = await setup({ heartbeatIntervalSeconds: 0.1, heartbeats: false });
    await driver.start();
    await until(() => master.subscriptions.length >= 2, 3000, "re-subscription after silence");
  });

  test("heartbeats keep a quiet stream alive", async () => {
    const { master, driver } = await setup({ heartbeatIntervalSeconds: 0.05 });
    await driver.start();
    // Ten intervals: silence for three would have broken the stream.
    await until(() => master.heartbeatsSent >= 10, 5000, "ten heartbeats");
    assert.equal(master.subscriptions.length, 1);
  });

  test("NOT_FOUND on re-subscription emits FrameworkRemovedError and stops retrying", async () => {
    const { master, driver } = await setup();
    const errors: unknown[] = [];
    driver.on("error", ({ error }) => {
      errors.push(error);
    });
    const id = await driver.start();
    master.known.delete(id);
    master.breakStreams();
    await until(() => errors.length === 1, 3000, "error event");
    assert.ok(errors[0] instanceof FrameworkRemovedError);
    assert.equal((errors[0] as FrameworkRemovedError).frameworkId, id);
    const n = master.subscriptions.length;
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(master.subscriptions.length, n);
  });

  test("start() with an id the master does not know rejects with FrameworkRemovedError", async () => {
    const { driver } = await setup({}, { framework: { name: "fw", id: "fw-gone" } });
    await assert.rejects(driver.start(), FrameworkRemovedError);
  });

  test("stop() while the master is unreachable rejects start() and ends iterators", async () => {
    const driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: "127.0.0.1:1",
      framework: { name: "fw" },
      logger: silentLogger,
      backoff: { initialMs: 20, maxMs: 50 },
    });
    const iter = driver.events();
    const started = driver.start();
    await new Promise((r) => setTimeout(r, 100));
    await driver.stop();
    await assert.rejects(started, DriverStoppedError);
    assert.equal((await iter.next()).done, true);
  });

  test("teardown() calls the master and stops the driver", async () => {
    const { master, driver } = await setup();
    await driver.start();
    await driver.teardown();
    assert.equal(master.callsOf("Teardown").length, 1);
    await assert.rejects(driver.revive(), DriverStoppedError);
  });

  test("bad options are refused naming the field", () => {
    assert.throws(
      () => new SchedulerDriver({ ...tlsOf("framework"), master: "nohost", framework: { name: "x" } }),
      /master: "nohost" is not host:port/,
    );
    assert.throws(
      () => new SchedulerDriver({ ...tlsOf("framework"), master: "127.0.0.1:1", framework: { name: "" } }),
      /framework\.name/,
    );
  });
});
