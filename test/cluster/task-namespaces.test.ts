// Task ids are scoped per framework, as in Mesos: two frameworks run a task named "web-1" at
// the same time, on the same agent, and neither sees, kills or reads the other's; an agent
// restart keeps both; an operator naming "web-1" alone is asked which framework's. A
// framework cannot learn which ids another one uses. Real master and agent processes, SDK
// drivers.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { status as Code } from "@grpc/grpc-js";
import { processStartTime } from "../../agent/proc-stat.js";
import { silentLogger } from "../../common/logger.js";
import {
  type Offer,
  SchedulerCallError,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { sandboxOf, stillRunning, taskPid } from "../chaos/identity-helpers.js";
import { tlsOf } from "../tls-fixture.js";
import { TestCluster, waitFor } from "./harness.js";

/**
 * A framework that keeps every update it hears, for the test to inspect. It declines the
 * offers it does not want at once, so that the one agent is offered to the other framework.
 */
class Tenant {
  readonly driver: SchedulerDriver;
  readonly updates: TaskStatus[] = [];
  id = "";
  private wanted?: (offer: Offer) => void;

  constructor(
    master: string,
    token: string,
    readonly name: string,
  ) {
    this.driver = new SchedulerDriver({
      master,
      token,
      framework: { name },
      logger: silentLogger,
      ...tlsOf("framework"),
    });
    this.driver.on("offers", async ({ offers }) => {
      const [first, ...rest] = offers;
      const take = this.wanted;
      if (take && first) {
        this.wanted = undefined;
        take(first);
      }
      const unwanted = (take ? rest : offers).map((o) => o.id);
      if (unwanted.length > 0) await this.driver.decline(unwanted, { refuseSeconds: 1 });
    });
    this.driver.on("update", ({ status }) => {
      this.updates.push(status);
    });
  }

  async start(): Promise<void> {
    this.id = await this.driver.start();
  }

  /** Launches `taskId` printing `hello-from-<name>` and its pid, then sleeping. */
  async launch(taskId: string): Promise<void> {
    const offer = await new Promise<Offer>((resolve) => {
      this.wanted = resolve;
    });
    await this.driver.launch(offer, [
      taskInfo({
        taskId,
        command: `echo hello-from-${this.name} $YARD_FRAMEWORK_ID; echo $$ > pid; exec sleep 600`,
        cpus: 0.1,
        mem: 32,
        killGraceSeconds: 1,
      }),
    ]);
  }

  states(taskId: string): TaskState[] {
    return this.updates.filter((u) => u.taskId === taskId).map((u) => u.state);
  }

  waitState(taskId: string, state: TaskState): Promise<TaskStatus> {
    return waitFor(`${this.name}'s ${taskId} to be ${TaskState[state]}`, () =>
      this.updates.find((u) => u.taskId === taskId && u.state === state),
    );
  }
}

const cluster = new TestCluster();
let a: Tenant;
let b: Tenant;

before(async () => {
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(1);
  a = new Tenant(cluster.masterAddress, cluster.token, "tenant-a");
  b = new Tenant(cluster.masterAddress, cluster.token, "tenant-b");
  await a.start();
  await b.start();
});

after(async () => {
  await a?.driver.stop();
  await b?.driver.stop();
  await cluster.stop();
});

describe("task ids scoped per framework", { timeout: 120_000 }, () => {
  const pids = { a: 0, b: 0 };

  test("two frameworks both launch web-1: both run, each hears only of its own", async () => {
    await a.launch("web-1");
    await a.waitState("web-1", TaskState.TASK_RUNNING);
    // Never refused because A has a web-1: B's launch of the same id is accepted and runs.
    await b.launch("web-1");
    await b.waitState("web-1", TaskState.TASK_RUNNING);

    for (const t of [a, b]) {
      assert.ok(t.updates.length > 0);
      assert.deepEqual(
        t.updates.filter((u) => u.frameworkId !== t.id),
        [],
        `${t.name} hears of its own tasks only`,
      );
    }
    const records = (await cluster.getTasks()).filter((r) => r.info?.taskId === "web-1");
    assert.deepEqual(records.map((r) => r.frameworkId).sort(), [a.id, b.id].sort());
    assert.ok(records.every((r) => r.status?.state === TaskState.TASK_RUNNING));

    // Two processes, each in its own sandbox.
    pids.a = await taskPid(sandboxOf(cluster, 0, a.id, "web-1"));
    pids.b = await taskPid(sandboxOf(cluster, 0, b.id, "web-1"));
    assert.notEqual(pids.a, pids.b);
  });

  test("logs are each framework's own; a bare id several frameworks use is refused, naming them", async () => {
    for (const [t, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const out = await waitFor(`${t.name}'s output`, async () => {
        const r = await cluster.yardctl(["logs", "web-1", "--framework", t.id]);
        return r.code === 0 && r.stdout.includes(`hello-from-${t.name}`) && r;
      });
      assert.match(out.stdout, new RegExp(`hello-from-${t.name} ${t.id}`));
      assert.doesNotMatch(out.stdout, new RegExp(`hello-from-${other.name}`));
    }
    const [first, second] = [a, b].sort((x, y) => x.id.localeCompare(y.id));
    const expected = `yardctl: task id web-1 is used by 2 frameworks: ${first!.id} (${first!.name}), ${second!.id} (${second!.name}); name the framework with --framework (framework_id)\n`;
    const logs = await cluster.yardctl(["logs", "web-1"]);
    assert.equal(logs.code, 1, logs.stderr);
    assert.equal(logs.stderr, expected);
    const kill = await cluster.yardctl(["kill", "web-1"]);
    assert.equal(kill.code, 1, kill.stderr);
    assert.equal(kill.stderr, expected);
    assert.ok(
      stillRunning(pids.a, processStartTime(pids.a)) && stillRunning(pids.b, processStartTime(pids.b)),
    );
  });

  test("framework B cannot learn A's task ids: reconcile answers unknown, kill NOT_FOUND", async () => {
    await a.launch("a-only");
    await a.waitState("a-only", TaskState.TASK_RUNNING);
    await b.driver.reconcile(["a-only"]);
    const answer = await waitFor("B's reconcile answer", () => b.updates.find((u) => u.taskId === "a-only"));
    assert.equal(answer.state, TaskState.TASK_LOST);
    assert.equal(answer.reason, "REASON_TASK_UNKNOWN");
    assert.equal(answer.frameworkId, b.id);
    await assert.rejects(
      b.driver.kill("a-only"),
      (err: unknown) => err instanceof SchedulerCallError && err.code === Code.NOT_FOUND,
    );
    // A's task was not touched: its own reconcile still says RUNNING, and it hears nothing else.
    await a.driver.reconcile(["a-only"]);
    const own = await waitFor("A's reconcile answer", () =>
      a.updates.find((u) => u.taskId === "a-only" && u.uuid === ""),
    );
    assert.equal(own.state, TaskState.TASK_RUNNING);
    assert.equal(a.states("a-only").at(-1), TaskState.TASK_RUNNING);
  });

  test("an agent restart keeps both web-1 tasks (checkpoint), each re-attached", async () => {
    const startA = processStartTime(pids.a);
    const startB = processStartTime(pids.b);
    await cluster.kill(cluster.agents[0], "SIGKILL");
    await waitFor("the agent to be seen disconnected", async () =>
      (await cluster.getAgents()).some((x) => x.status === "DISCONNECTED"),
    );
    await cluster.restartAgent(0);
    // The re-registration reconciles its tasks before the agent is ACTIVE again: a task it
    // did not come back with would be LOST by then.
    await cluster.waitForAgents(1);
    const records = (await cluster.getTasks()).filter((r) => r.info?.taskId === "web-1");
    assert.deepEqual(
      records.map((r) => TaskState[r.status!.state]),
      ["TASK_RUNNING", "TASK_RUNNING"],
    );
    assert.ok(stillRunning(pids.a, startA), "A's web-1 runs on");
    assert.ok(stillRunning(pids.b, startB), "B's web-1 runs on");
    for (const t of [a, b]) assert.ok(!t.states("web-1").includes(TaskState.TASK_LOST));
  });

  test("a kill by one framework kills its own web-1 only; the operator's --framework kill the other", async () => {
    const startB = processStartTime(pids.b);
    await a.driver.kill("web-1");
    await a.waitState("web-1", TaskState.TASK_KILLED);
    // A's process is gone once its KILLED is reported; B's, signalled by nothing, runs on.
    assert.ok(!stillRunning(pids.a, processStartTime(pids.a)));
    assert.ok(stillRunning(pids.b, startB), "B's web-1 survives A's kill");
    assert.ok(!b.states("web-1").includes(TaskState.TASK_KILLED));

    // Only B has a live web-1, but A's ended one is still kept: the bare id stays ambiguous.
    const bare = await cluster.yardctl(["kill", "web-1"]);
    assert.equal(bare.code, 1, bare.stderr);
    assert.match(bare.stderr, /task id web-1 is used by 2 frameworks/);
    const kill = await cluster.yardctl(["kill", "web-1", "--framework", b.id]);
    assert.equal(kill.code, 0, kill.stderr);
    await b.waitState("web-1", TaskState.TASK_KILLED);
    assert.deepEqual(
      b.updates.filter((u) => u.frameworkId !== b.id),
      [],
    );
    const again = await cluster.yardctl(["kill", "web-1", "--framework", a.id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /task web-1 has already ended \(TASK_KILLED\)/);
  });
});
