// The master's Scheduler and Agent APIs against bad input: each refusal has the right gRPC
// code and a message that names the field and the value, and nothing of it is applied.
// Real master and agent (in-process, gRPC on 127.0.0.1), real SDK drivers.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { status as Code } from "@grpc/grpc-js";
import { type AgentHandle, startAgent } from "../../agent/agent-daemon.js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { silentLogger } from "../../common/logger.js";
import {
  type Offer,
  SchedulerCallError,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { type MasterHandle, startMaster } from "../../master/master-daemon.js";
import { AgentServiceClient, type MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { SchedulerServiceClient } from "../../proto/gen/yard/v1/scheduler.js";
import { waitFor } from "../cluster/harness.js";
import { agentCredentials, frameworkCredentials, operatorCredentials, tlsOf } from "../tls-fixture.js";

const TOKEN = "api-test-token";

/** A framework driver that keeps its offers and updates where a test can take them. */
class Probe {
  readonly driver: SchedulerDriver;
  readonly offers: Offer[] = [];
  readonly rescinded: string[] = [];
  readonly updates: TaskStatus[] = [];

  constructor(master: string, name: string, failoverTimeoutSeconds = 60) {
    this.driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token: TOKEN,
      framework: { name, failoverTimeoutSeconds },
      logger: silentLogger,
    });
    this.driver.on("offers", ({ offers }) => {
      this.offers.push(...offers);
    });
    this.driver.on("rescind", ({ offerId }) => {
      this.rescinded.push(offerId);
      const i = this.offers.findIndex((o) => o.id === offerId);
      if (i >= 0) this.offers.splice(i, 1);
    });
    this.driver.on("update", ({ status }) => {
      this.updates.push(status);
    });
  }

  /** The next offer not yet taken (waits for one). */
  take(timeoutMs = 5_000): Promise<Offer> {
    return waitFor("an offer", () => this.offers.shift(), timeoutMs, 20);
  }

  /** No offers for this framework until wake(); the ones it holds are rescinded. */
  async quiet(): Promise<void> {
    await this.driver.suppress();
    this.offers.length = 0;
  }

  async wake(): Promise<void> {
    await this.driver.revive();
  }

  latest(taskId: string): TaskStatus | undefined {
    return this.updates.filter((u) => u.taskId === taskId).at(-1);
  }
}

async function refusal(p: Promise<unknown>): Promise<SchedulerCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SchedulerCallError, `expected a SchedulerCallError, got ${err}`);
    return err;
  }
  assert.fail("the call was accepted");
}

describe("scheduler and agent APIs refuse bad input", { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "yard-api-"));
  let master: MasterHandle;
  let agent: AgentHandle;
  let a: Probe;
  let b: Probe;
  const task = (taskId: string, over: Partial<Parameters<typeof taskInfo>[0]> = {}) =>
    taskInfo({ taskId, command: "sleep 30", cpus: 0.1, mem: 32, killGraceSeconds: 1, ...over });

  before(async () => {
    master = await startMaster({
      ...tlsOf("master"),
      dataDir: join(root, "master"),
      port: 0,
      httpPort: 0,
      token: TOKEN,
      logger: silentLogger,
      defaultRefuseSeconds: 5,
      updateRetryMs: 500,
    });
    agent = await startAgent({
      ...tlsOf("agent"),
      master: master.address,
      dataDir: join(root, "agent"),
      token: TOKEN,
      hostname: "api-host",
      cpus: 2,
      mem: 1024,
      disk: 1024,
      ports: [{ begin: 31000, end: 31009 }],
      logger: silentLogger,
    });
    a = new Probe(master.address, "probe-a");
    b = new Probe(master.address, "probe-b");
    await a.driver.start();
    await b.driver.start();
    // One agent, offered whole to one framework at a time: B stays quiet unless a test needs it.
    await b.quiet();
  });

  after(async () => {
    await a?.driver.stop();
    await b?.driver.stop();
    await agent?.stop({ killTasks: true });
    await master?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test("an unknown offer id is NOT_FOUND, naming the offer", async () => {
    const err = await refusal(a.driver.accept(["offer-nope"], [task("t-unknown-offer")]));
    assert.equal(err.code, Code.NOT_FOUND);
    assert.match(err.details, /offer-nope/);
  });

  test("an offer of another framework is FAILED_PRECONDITION", async () => {
    await a.quiet();
    await b.wake();
    const offer = await b.take();
    const err = await refusal(a.driver.accept([offer.id], [task("t-foreign")]));
    assert.equal(err.code, Code.FAILED_PRECONDITION);
    assert.match(err.details, new RegExp(offer.id));
    await b.quiet();
    await a.wake();
  });

  test("resources beyond the offer are INVALID_ARGUMENT naming the field, and the offer returns at once", async () => {
    const offer = await a.take();
    const err = await refusal(a.driver.launch(offer, [task("t-big", { mem: 4096 })]));
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.details, /operations\[0\]\.launch\.tasks\[0\]\.resources\.mem/);
    assert.match(err.details, /4096/);
    // No refuse filter for a rejected Accept: the same agent is offered again well within 5 s.
    const again = await a.take(3_000);
    assert.equal(again.agentId, offer.agentId);
    assert.equal(again.resources!.mem, offer.resources!.mem, "all of the agent's memory is offered again");
    a.offers.unshift(again);
  });

  test("a port outside the offered ranges is INVALID_ARGUMENT naming the port", async () => {
    const offer = await a.take();
    const err = await refusal(
      a.driver.launch(offer, [task("t-port", { ports: [{ begin: 40000, end: 40000 }] })]),
    );
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.details, /40000/);
    assert.match(err.details, /ports/);
  });

  test("an empty command is INVALID_ARGUMENT naming command.value", async () => {
    const offer = await a.take();
    const bad = { ...task("t-empty"), command: { value: "  ", arguments: [], shell: true, env: {} } };
    const err = await refusal(a.driver.launch(offer, [bad]));
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.details, /command\.value/);
  });

  test("a rejected Accept launches nothing, not even its valid tasks", async () => {
    const offer = await a.take();
    const err = await refusal(
      a.driver.launch(offer, [task("t-good-half"), task("t-bad-half", { cpus: 64 })]),
    );
    assert.equal(err.code, Code.INVALID_ARGUMENT);
    assert.match(err.details, /tasks\[1\]\.resources\.cpus/);
    const op = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
    const tasks = await unary(
      op.getTasks,
      op,
      { frameworkId: "", agentId: "", includeTerminal: true },
      authMetadata(TOKEN),
    );
    op.close();
    assert.deepEqual(
      tasks.tasks.map((t) => t.info!.taskId).filter((id) => id.includes("half")),
      [],
    );
  });

  test("a task id in use is ALREADY_EXISTS naming the id", async () => {
    const offer = await a.take();
    await a.driver.launch(offer, [task("t-dup")]);
    await waitFor("t-dup to run", () => a.latest("t-dup")?.state === TaskState.TASK_RUNNING);
    const next = await a.take();
    const err = await refusal(a.driver.launch(next, [task("t-dup")]));
    assert.equal(err.code, Code.ALREADY_EXISTS);
    assert.match(err.details, /t-dup/);
    await a.driver.kill("t-dup");
    await waitFor("t-dup to be killed", () => a.latest("t-dup")?.state === TaskState.TASK_KILLED);
  });

  test("reconciliation answers from the master's store, without uuids: explicit and implicit", async () => {
    const offer = await a.take();
    await a.driver.launch(offer, [task("t-rec")]);
    await waitFor("t-rec to run", () => a.latest("t-rec")?.state === TaskState.TASK_RUNNING);
    const before = a.updates.length;
    await a.driver.reconcile(["t-rec", "t-never-seen"]);
    const answers = await waitFor("two reconciliation answers", () => {
      const got = a.updates.slice(before);
      return got.length >= 2 && got;
    });
    const known = answers.find((u) => u.taskId === "t-rec")!;
    assert.equal(known.state, TaskState.TASK_RUNNING);
    assert.equal(known.uuid, "", "answers need no acknowledgement");
    const unknown = answers.find((u) => u.taskId === "t-never-seen")!;
    assert.equal(unknown.state, TaskState.TASK_LOST);
    assert.equal(unknown.reason, "REASON_TASK_UNKNOWN");

    const mark = a.updates.length;
    await a.driver.reconcile();
    const implicit = await waitFor("an implicit answer for t-rec", () =>
      a.updates.slice(mark).find((u) => u.taskId === "t-rec"),
    );
    assert.equal(implicit.state, TaskState.TASK_RUNNING);
    await a.driver.kill("t-rec");
    await waitFor("t-rec to be killed", () => a.latest("t-rec")?.state === TaskState.TASK_KILLED);
  });

  test("an update the framework does not acknowledge is sent again until it is", async () => {
    await a.quiet();
    const manual = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "manual-acks" },
      autoAcknowledge: false,
      logger: silentLogger,
    });
    const seen: TaskStatus[] = [];
    let offer: Offer | undefined;
    manual.on("offers", ({ offers }) => {
      offer ??= offers[0];
    });
    manual.on("update", ({ status }) => {
      seen.push(status);
    });
    try {
      await manual.start();
      await waitFor("an offer for the manual framework", () => offer);
      // t-probe is never acknowledged: its resends show that the resend cycles go on.
      await manual.launch(offer!, [
        task("t-manual", { command: "true" }),
        task("t-probe", { command: "true" }),
      ]);
      const finished = await waitFor("FINISHED twice (sent again while unacknowledged)", () => {
        const f = seen.filter((s) => s.taskId === "t-manual" && s.state === TaskState.TASK_FINISHED);
        return f.length >= 2 && f;
      });
      assert.equal(finished[0]!.uuid, finished[1]!.uuid, "the same update, not a new one");
      await manual.acknowledge(finished[0]!);
      // A resend already on the wire when the ack landed may still arrive, but not after the
      // next cycle's resend of t-probe; two cycles after the ack, nothing of t-manual's.
      const mark = seen.length;
      const probeAfter = () =>
        seen.slice(mark).filter((s) => s.taskId === "t-probe" && s.state === TaskState.TASK_FINISHED);
      await waitFor(
        "two resend cycles after the acknowledgement",
        () => probeAfter().length >= 2 || undefined,
      );
      const since = seen.indexOf(probeAfter()[0]!);
      assert.deepEqual(
        seen.slice(since).filter((s) => s.uuid === finished[0]!.uuid),
        [],
        "no resend after the acknowledgement",
      );
    } finally {
      await manual.teardown().catch(() => undefined);
      await manual.stop();
      await a.wake();
    }
  });

  test("killing an unknown task is NOT_FOUND", async () => {
    const err = await refusal(a.driver.kill("never-launched"));
    assert.equal(err.code, Code.NOT_FOUND);
    assert.match(err.details, /never-launched/);
  });

  test("calls of a framework that is not subscribed are FAILED_PRECONDITION; calls without the token are another principal's", async () => {
    const client = new SchedulerServiceClient(master.address, frameworkCredentials(), CHANNEL_OPTIONS);
    try {
      await assert.rejects(
        unary(client.revive, client, { frameworkId: "fw-nobody" }, authMetadata(TOKEN)),
        (err: any) => err.code === Code.FAILED_PRECONDITION && /fw-nobody/.test(err.details),
      );
      // Without a token the caller is its certificate's principal, not the one that registered A.
      await assert.rejects(
        unary(client.revive, client, { frameworkId: a.driver.frameworkId! }, authMetadata(undefined)),
        (err: any) =>
          err.code === Code.PERMISSION_DENIED && /principal framework \(framework\)/.test(err.details),
      );
      await assert.rejects(
        unary(client.revive, client, { frameworkId: a.driver.frameworkId! }, authMetadata("wrong-token")),
        (err: any) => err.code === Code.UNAUTHENTICATED,
      );
    } finally {
      client.close();
    }
  });

  test("a bad pending report or event is INVALID_ARGUMENT naming the field, and nothing of it is kept", async () => {
    const client = new SchedulerServiceClient(master.address, frameworkCredentials(), CHANNEL_OPTIONS);
    const frameworkId = a.driver.frameworkId!;
    const md = () => authMetadata(TOKEN, a.driver.session);
    const ops = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
    try {
      const unit = { kind: "app", name: "web", taskIds: [], waiting: 1, reasons: [], since: 0, message: "" };
      await assert.rejects(
        unary(client.reportPending, client, { frameworkId, work: [unit, { ...unit, kind: "pod" }] }, md()),
        (err: any) => err.code === Code.INVALID_ARGUMENT && /work\[1\]\.kind: "pod"/.test(err.details),
      );
      const e = await unary(
        ops.explain,
        ops,
        { kind: "app", name: "web", frameworkId: "" },
        authMetadata(TOKEN),
      );
      assert.equal(e.work, undefined, "the refused report left nothing behind");
      const before = master.master.events.lastIndex();
      await assert.rejects(
        unary(
          client.publishEvents,
          client,
          {
            frameworkId,
            events: [
              { type: "DEPLOYMENT_RUNNING", object: "app/web", message: "", taskId: "", agentId: "" },
              { type: "AGENT_LOST", object: "", message: "forged", taskId: "", agentId: "agent-1" },
            ],
          },
          md(),
        ),
        (err: any) =>
          err.code === Code.INVALID_ARGUMENT && /events\[1\]\.type: "AGENT_LOST"/.test(err.details),
      );
      assert.equal(master.master.events.lastIndex(), before, "no event of the refused call was appended");
      // A good report is kept and explained.
      await unary(client.reportPending, client, { frameworkId, work: [unit] }, md());
      const ok = await unary(
        ops.explain,
        ops,
        { kind: "app", name: "web", frameworkId: "" },
        authMetadata(TOKEN),
      );
      assert.equal(ok.work?.waiting, 1);
      assert.equal(ok.frameworkId, frameworkId);
    } finally {
      client.close();
      ops.close();
    }
  });

  test("calls in another framework's name are PERMISSION_DENIED, even with the cluster token", async () => {
    const client = new SchedulerServiceClient(master.address, frameworkCredentials(), CHANNEL_OPTIONS);
    const victim = a.driver.frameworkId!;
    try {
      // No subscription secret at all.
      await assert.rejects(
        unary(client.teardown, client, { frameworkId: victim }, authMetadata(TOKEN)),
        (err: any) => err.code === Code.PERMISSION_DENIED && err.details.includes(victim),
      );
      // Framework B's own secret does not let it act for A.
      await assert.rejects(
        unary(
          client.kill,
          client,
          { frameworkId: victim, taskId: "t-dup" },
          authMetadata(TOKEN, b.driver.session),
        ),
        (err: any) => err.code === Code.PERMISSION_DENIED,
      );
      // A's own calls go through.
      await a.driver.revive();
    } finally {
      client.close();
    }
    const offer = await a.take();
    assert.equal(offer.frameworkId, victim, "A is still subscribed and offered");
    a.offers.unshift(offer);
  });

  test("re-subscribing with an unknown framework id is NOT_FOUND", async () => {
    const ghost = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "ghost", id: "fw-does-not-exist" },
      logger: silentLogger,
    });
    await assert.rejects(ghost.start(), (err: Error) => /fw-does-not-exist/.test(err.message));
    await ghost.stop();
  });

  test("agents with a stale id, a duplicate id or of another cluster are refused with the reason", async () => {
    const register = (agentId: string, agentSecret = "", clusterId = "") =>
      new Promise<MasterMessage>((resolve, reject) => {
        const client = new AgentServiceClient(master.address, agentCredentials(), CHANNEL_OPTIONS);
        const call = client.connect(authMetadata(TOKEN));
        call.on("data", (m: MasterMessage) => {
          resolve(m);
          call.cancel();
          client.close();
        });
        call.on("error", () => undefined);
        call.on("end", () => reject(new Error("stream ended without an answer")));
        call.write({
          register: {
            agentId,
            token: "",
            tasks: [],
            artifacts: [],
            agentSecret,
            clusterId,
            info: {
              id: "",
              hostname: "intruder",
              resources: { cpus: 1, mem: 64, disk: 0, ports: [] },
              attributes: [],
              executors: ["process"],
              version: "test",
            },
          },
        });
      });
    const stale = await register("agent-from-another-cluster");
    assert.equal(stale.refused?.reason, "STALE_AGENT");
    assert.match(stale.refused!.message, /agent-from-another-cluster/);
    // Another cluster's agent never hears STALE_AGENT (which makes an agent kill its tasks).
    const stranger = await register("agent-from-another-cluster", "", "cluster-other");
    assert.equal(stranger.refused?.reason, "WRONG_CLUSTER");
    assert.match(
      stranger.refused!.message,
      /belongs to cluster cluster-other, this master to cluster cluster-/,
    );
    const duplicate = await register(agent.agentId()!);
    assert.equal(duplicate.refused?.reason, "DUPLICATE_AGENT");
    assert.match(duplicate.refused!.message, new RegExp(agent.agentId()!));

    // An id proves itself with the secret issued at its first registration.
    const first = await register("");
    const { agentId: newId, agentSecret } = first.registered!;
    assert.match(first.registered!.clusterId, /^cluster-/, "a registered agent is told its cluster");
    const own = await register("agent-unknown", "", first.registered!.clusterId);
    assert.equal(own.refused?.reason, "STALE_AGENT", "the master's own cluster: the id decides");
    assert.ok(agentSecret.length >= 24, "a new agent is given a secret");
    const impostor = await waitFor("the first stream to be gone", async () => {
      const m = await register(newId, "guessed-secret");
      return m.refused?.reason !== "DUPLICATE_AGENT" && m;
    });
    assert.equal(impostor.refused?.reason, "UNAUTHENTICATED");
    assert.match(impostor.refused!.message, /agent secret does not match/);
    const back = await register(newId, agentSecret);
    assert.equal(back.registered?.agentId, newId);
    assert.equal(back.registered?.agentSecret, "", "the secret is issued once, not again");
  });

  test("a framework gone past its failover timeout has its tasks killed", async () => {
    await a.quiet();
    const shortLived = new Probe(master.address, "short-lived", 1);
    await shortLived.driver.start();
    const offer = await shortLived.take();
    await shortLived.driver.launch(offer, [task("t-orphan")]);
    await waitFor("t-orphan to run", () => shortLived.latest("t-orphan")?.state === TaskState.TASK_RUNNING);
    const frameworkId = shortLived.driver.frameworkId!;
    await shortLived.driver.stop();
    const op = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
    try {
      const killed = await waitFor(
        "the orphaned task to be killed",
        async () => {
          const res = await unary(
            op.getTasks,
            op,
            { frameworkId, agentId: "", includeTerminal: true },
            authMetadata(TOKEN),
          );
          const t = res.tasks.find((x) => x.info!.taskId === "t-orphan");
          return t?.status?.state === TaskState.TASK_KILLED && t;
        },
        10_000,
      );
      assert.equal(killed.status!.state, TaskState.TASK_KILLED);
      const frameworks = await unary(op.getFrameworks, op, {}, authMetadata(TOKEN));
      assert.equal(frameworks.frameworks.find((f) => f.info!.id === frameworkId)?.status, "INACTIVE");
    } finally {
      op.close();
      await a.wake();
    }
  });

  test("draining an agent rescinds its offers and stops new ones", async () => {
    const offer = await a.take();
    const op = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
    try {
      await unary(op.drainAgent, op, { agentId: offer.agentId, killAfterSeconds: 0 }, authMetadata(TOKEN));
      await waitFor("the offer to be rescinded", () => a.rescinded.includes(offer.id));
      a.offers.length = 0;
      await a.driver.revive();
      // Allocation cycles after the revive are when an offer would have been made.
      const cycles = master.master.counters.cycles;
      await waitFor("allocation cycles after the revive", () => master.master.counters.cycles >= cycles + 5);
      assert.deepEqual(a.offers, [], "no offers from a draining agent");
      await unary(op.undrainAgent, op, { agentId: offer.agentId }, authMetadata(TOKEN));
      await a.take(3_000);
    } finally {
      op.close();
    }
  });
});
