// The agent against a test master speaking the real AgentService protocol.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { silentLogger } from "../../common/logger.js";
import { Reason } from "../../common/reasons.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { type AgentComponents, type AgentHandle, startAgent } from "../../agent/agent-daemon.js";
import { tlsOf } from "../tls-fixture.js";
import { taskName } from "../../agent/agent-task.js";
import { Checkpoint } from "../../agent/checkpoint.js";
import { processStartTime } from "../../agent/proc-stat.js";
import { NullExecutor } from "../../bench/executors/null-executor.js";
import { killPid, shellTask, tempDir, waitFor } from "./helpers.js";
import { NO_SWARM, TestMaster } from "./test-master.js";

const FW = "fw-1";

function statusesOf(master: TestMaster, taskId: string) {
  return master
    .all("status")
    .map((s) => s.status!)
    .filter((s) => s.taskId === taskId);
}

function waitState(master: TestMaster, taskId: string, state: TaskState) {
  return waitFor(`${taskId} in ${TaskState[state]}`, () =>
    statusesOf(master, taskId).find((s) => s.state === state),
  );
}

describe("agent daemon", () => {
  const dirs: string[] = [];
  const agents: AgentHandle[] = [];
  const masters: TestMaster[] = [];
  const pids: number[] = [];
  after(async () => {
    for (const a of agents) await a.stop({ killTasks: true }).catch(() => undefined);
    for (const m of masters) await m.stop();
    for (const p of pids) killPid(p);
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  async function setup(opts: { token?: string; components?: AgentComponents } = {}) {
    const master = new TestMaster();
    await master.start();
    masters.push(master);
    const dataDir = tempDir("agent");
    dirs.push(dataDir);
    const start = () =>
      startAgent(
        {
          ...tlsOf("agent"),
          master: master.address,
          dataDir,
          token: opts.token,
          cpus: 2,
          mem: 512,
          disk: 1024,
          ports: [{ begin: 31000, end: 31009 }],
          attributes: [{ name: "zone", value: "a" }],
          statusRetryMs: 200,
          usageIntervalMs: 200,
          killGraceMs: 2000,
          logger: silentLogger,
        },
        opts.components,
      ).then((a) => {
        agents.push(a);
        return a;
      });
    return { master, dataDir, start };
  }

  test("registers with its resources and token, heartbeats, and runs a task to FINISHED", async () => {
    const { master, start } = await setup({ token: "s3cret" });
    const agent = await start();
    const s = await master.waitStreams(1);
    assert.equal(s.authorization, "Bearer s3cret");
    assert.equal(s.register.agentId, "");
    assert.deepEqual(s.register.info?.resources, {
      cpus: 2,
      mem: 512,
      disk: 1024,
      ports: [{ begin: 31000, end: 31009 }],
    });
    assert.deepEqual(s.register.info?.attributes, [{ name: "zone", value: "a" }]);
    assert.deepEqual(s.register.info?.executors, ["process"]);
    await waitFor("agent id", () => agent.agentId() === "agent-1" || undefined);
    await waitFor("two heartbeats", () => master.all("heartbeat").length >= 2 || undefined);

    s.call.write({ runTask: { user: "", frameworkId: FW, task: shellTask("d-ok", "echo hello") } });
    const running = await waitState(master, "d-ok", TaskState.TASK_RUNNING);
    const finished = await waitState(master, "d-ok", TaskState.TASK_FINISHED);
    assert.equal(finished.exitCode, 0);
    assert.equal(finished.agentId, "agent-1");
    assert.equal(finished.frameworkId, FW);
    assert.notEqual(running.uuid, finished.uuid);
  });

  test("injected executors replace the host's: advertised by name, they run and kill the tasks", async () => {
    const { master, start } = await setup({
      components: { executors: { stub: (c) => new NullExecutor(c, "stub") } },
    });
    const agent = await start();
    const s = await master.waitStreams(1);
    assert.deepEqual(s.register.info?.executors, ["stub"]);
    assert.deepEqual(agent.executors(), ["stub"]);
    s.call.write({
      runTask: { user: "", frameworkId: FW, task: shellTask("d-stub", "exit 1", { executor: "stub" }) },
    });
    await waitState(master, "d-stub", TaskState.TASK_RUNNING);
    s.call.write({ killTask: { taskId: "d-stub", frameworkId: FW, graceSeconds: 0 } });
    const killed = await waitState(master, "d-stub", TaskState.TASK_KILLED);
    assert.equal(killed.reason, Reason.KILL_REQUESTED);
    // A batch of launches comes back as one message of RUNNING updates.
    const ids = ["d-b1", "d-b2", "d-b3"];
    s.call.write({
      batch: {
        runTasks: ids.map((id) => ({
          user: "",
          frameworkId: FW,
          task: shellTask(id, "true", { executor: "stub" }),
        })),
        acks: [],
      },
    });
    await Promise.all(ids.map((id) => waitState(master, id, TaskState.TASK_RUNNING)));
    // (Resends of the unacknowledged updates above may share it, or come in batches of their own.)
    assert.ok(
      s.batches.some((b) => ids.every((id) => b.includes(id))),
      `batches: ${JSON.stringify(s.batches)}`,
    );
    // The process executor was not built beside it.
    s.call.write({ runTask: { user: "", frameworkId: FW, task: shellTask("d-proc", "true") } });
    const failed = await waitState(master, "d-proc", TaskState.TASK_FAILED);
    assert.equal(failed.reason, Reason.LAUNCH_FAILED);
    assert.match(failed.message, /executor "process" is not available on this agent \(it has: stub\)/);
  });

  test("unacked updates are resent in order until acked; kill of an unknown task is LOST", async () => {
    const { master, start } = await setup();
    await start();
    const s = await master.waitStreams(1);
    s.call.write({ runTask: { user: "", frameworkId: FW, task: shellTask("d-retry", "exit 3") } });
    const failed = await waitState(master, "d-retry", TaskState.TASK_FAILED);
    assert.equal(failed.exitCode, 3);
    // Resent with the same uuids, RUNNING always before FAILED.
    await waitFor("resends", () => statusesOf(master, "d-retry").length >= 6 || undefined);
    const seen = statusesOf(master, "d-retry");
    const uuids = [...new Set(seen.map((x) => x.uuid))];
    assert.equal(uuids.length, 2);
    assert.equal(seen[0]!.state, TaskState.TASK_RUNNING);
    assert.equal(seen[1]!.state, TaskState.TASK_FAILED);
    for (const st of seen) s.call.write({ ack: { taskId: st.taskId, uuid: st.uuid, frameworkId: FW } });
    // The positive signal: a task launched after the acks (the agent handles its stream in
    // order) has its own update resent every cycle, oldest first; an update of d-retry still
    // pending would go out again before it in the same cycle.
    s.call.write({ runTask: { user: "", frameworkId: FW, task: shellTask("d-probe", "sleep 30") } });
    await waitFor(
      "two resends of d-probe's update",
      () => statusesOf(master, "d-probe").length >= 3 || undefined,
    );
    const order = master.all("status").map((u) => u.status!.taskId);
    assert.deepEqual(
      order.slice(order.indexOf("d-probe")).filter((id) => id === "d-retry"),
      [],
      "acked updates are not sent again",
    );

    s.call.write({ killTask: { taskId: "nobody", frameworkId: FW, graceSeconds: 0 } });
    const lost = await waitState(master, "nobody", TaskState.TASK_LOST);
    assert.equal(lost.reason, Reason.TASK_UNKNOWN);
  });

  test("survives bad messages, streams logs, reports usage, re-registers with its tasks, kills", async () => {
    const { master, start } = await setup();
    await start();
    const s = await master.waitStreams(1);
    s.call.write({ runTask: { user: "", frameworkId: FW } }); // no task: logged and ignored
    s.call.write({ ack: { taskId: "x", uuid: "not-pending", frameworkId: FW } });
    const info = shellTask("d-long", "echo line1; echo $PORT0; sleep 30", {
      resources: { cpus: 0.5, mem: 64, disk: 0, ports: [{ begin: 31003, end: 31003 }] },
    });
    s.call.write({ runTask: { user: "", frameworkId: FW, task: info } });
    const running = await waitState(master, "d-long", TaskState.TASK_RUNNING);
    s.call.write({ ack: { taskId: "d-long", uuid: running.uuid, frameworkId: FW } });
    await waitFor(
      "usage for d-long",
      () => master.all("usage").some((u) => u.tasks.some((t) => t.taskId === "d-long")) || undefined,
    );

    s.call.write({
      readLogs: {
        requestId: "r1",
        frameworkId: FW,
        taskId: "d-long",
        stream: "stdout",
        follow: false,
        tailBytes: 0,
        offset: 0,
      },
    });
    s.call.write({
      readLogs: {
        requestId: "r2",
        frameworkId: FW,
        taskId: "ghost",
        stream: "stdout",
        follow: false,
        tailBytes: 0,
        offset: 0,
      },
    });
    await waitFor("log eofs", () => master.all("logData").filter((l) => l.eof).length >= 2 || undefined);
    const r1 = master.all("logData").filter((l) => l.requestId === "r1");
    assert.equal(Buffer.concat(r1.map((l) => l.data)).toString(), "line1\n31003\n");
    assert.equal(r1.at(-1)!.eof, true);
    assert.equal(r1.at(-1)!.error, "");
    const r2 = master.all("logData").filter((l) => l.requestId === "r2");
    assert.match(r2.at(-1)!.error, /unknown task ghost/);
    assert.equal(r1[0]!.offset, 0, "each chunk says where it starts in the file");

    // A read resumed at an offset (after a failover) starts there, whatever tail_bytes says.
    s.call.write({
      readLogs: {
        requestId: "r1-resumed",
        frameworkId: FW,
        taskId: "d-long",
        stream: "stdout",
        follow: false,
        tailBytes: 100,
        offset: 6,
      },
    });
    await waitFor(
      "the resumed read's eof",
      () => master.all("logData").some((l) => l.requestId === "r1-resumed" && l.eof) || undefined,
    );
    const resumed = master.all("logData").filter((l) => l.requestId === "r1-resumed");
    assert.equal(Buffer.concat(resumed.map((l) => l.data)).toString(), "31003\n");
    assert.equal(resumed[0]!.offset, 6);

    // A follow that ends when the task does.
    s.call.write({
      readLogs: {
        requestId: "r3",
        frameworkId: FW,
        taskId: "d-long",
        stream: "stdout",
        follow: true,
        tailBytes: 6,
        offset: 0,
      },
    });

    // The master drops the stream: the agent dials again and re-registers with its task.
    s.call.end();
    const s2 = await master.waitStreams(2);
    assert.equal(s2.register.agentId, "agent-1");
    assert.deepEqual(
      s2.register.tasks.map((t) => [t.task?.taskId, t.state, t.frameworkId]),
      [["d-long", TaskState.TASK_RUNNING, FW]],
    );
    s2.call.write({
      readLogs: {
        requestId: "r4",
        frameworkId: FW,
        taskId: "d-long",
        stream: "stdout",
        follow: true,
        tailBytes: 0,
        offset: 0,
      },
    });
    await waitFor("r4 data", () => master.all("logData").some((l) => l.requestId === "r4") || undefined);
    s2.call.write({ killTask: { taskId: "d-long", frameworkId: FW, graceSeconds: 1 } });
    const killed = await waitState(master, "d-long", TaskState.TASK_KILLED);
    assert.equal(killed.reason, Reason.KILL_REQUESTED);
    const r4 = await waitFor("r4 eof", () =>
      master.all("logData").find((l) => l.requestId === "r4" && l.eof) ? master.all("logData") : undefined,
    );
    const text = Buffer.concat(r4.filter((l) => l.requestId === "r4").map((l) => l.data)).toString();
    assert.equal(text, "line1\n31003\n");
  });

  test("a restarted agent re-attaches to its running task and re-registers with it", async () => {
    const { master, dataDir, start } = await setup();
    const first = await start();
    const s = await master.waitStreams(1);
    // The task ends when the test creates `go` in its sandbox, however slow the machine.
    s.call.write({
      runTask: {
        user: "",
        frameworkId: FW,
        task: shellTask("d-survive", "until [ -e go ]; do sleep 0.05; done; exit 7"),
      },
    });
    const running = await waitState(master, "d-survive", TaskState.TASK_RUNNING);
    s.call.write({ ack: { taskId: "d-survive", uuid: running.uuid, frameworkId: FW } });
    await first.stop(); // tasks keep running
    const second = await start();
    const s2 = await master.waitStreams(2);
    assert.equal(s2.register.agentId, "agent-1");
    assert.deepEqual(
      s2.register.tasks.map((t) => [t.task?.taskId, t.state]),
      [["d-survive", TaskState.TASK_RUNNING]],
    );
    fs.writeFileSync(`${dataDir}/sandboxes/${taskName(FW, "d-survive")}/go`, "");
    const failed = await waitState(master, "d-survive", TaskState.TASK_FAILED);
    assert.equal(failed.exitCode, 7);
    // Every update of it (RUNNING too: its first ack may not have reached the first agent).
    for (const st of statusesOf(master, "d-survive")) {
      s2.call.write({ ack: { taskId: "d-survive", uuid: st.uuid, frameworkId: FW } });
    }
    // Read beside the agent (WAL lets a second connection read): the acked terminal task
    // leaves the checkpoint.
    const reader = new Checkpoint(dataDir);
    try {
      await waitFor("d-survive to leave the checkpoint", () => reader.tasks().length === 0 || undefined);
    } finally {
      reader.close();
    }
    await second.stop();
    // The acked terminal task left the checkpoint: the next registration lists nothing.
    await start();
    const s3 = await master.waitStreams(3);
    assert.deepEqual(s3.register.tasks, []);
  });

  test("a task that ended while the master was away is named, with its end, until that end is acked", async () => {
    const { master, start } = await setup();
    await start();
    const s = await master.waitStreams(1);
    s.call.write({ runTask: { user: "", frameworkId: FW, task: shellTask("d-ended", "exit 3") } });
    await waitState(master, "d-ended", TaskState.TASK_FAILED);
    // Not acked: the master may not have it (it lost the stream first). The agent says so when
    // it registers again, so that the master waits for the update instead of calling the task gone.
    s.call.end();
    const s2 = await master.waitStreams(2);
    assert.deepEqual(
      s2.register.tasks.map((t) => [t.task?.taskId, t.state]),
      [["d-ended", TaskState.TASK_FAILED]],
    );
    // The acks (of every update of the task), then the end of the stream, in this order.
    for (const u of new Set(statusesOf(master, "d-ended").map((x) => x.uuid))) {
      s2.call.write({ ack: { taskId: "d-ended", uuid: u, frameworkId: FW } });
    }
    s2.call.end();
    const s3 = await master.waitStreams(3);
    assert.deepEqual(s3.register.tasks, []);
  });

  test("STALE_AGENT: the agent kills its tasks, forgets its id and registers anew; other refusals back off", async () => {
    const { master, start } = await setup();
    await start();
    const s = await master.waitStreams(1);
    s.call.write({
      runTask: { user: "", frameworkId: FW, task: shellTask("d-stale", "echo $$ > pid; exec sleep 30") },
    });
    const running = await waitState(master, "d-stale", TaskState.TASK_RUNNING);
    s.call.write({ ack: { taskId: "d-stale", uuid: running.uuid, frameworkId: FW } });
    let refusals = 0;
    master.answer = (reg) => {
      if (reg.agentId === "agent-1") return { refused: { reason: "STALE_AGENT", message: "unknown agent" } };
      if (refusals++ < 2) return { refused: { reason: "DUPLICATE_AGENT", message: "busy" } };
      return {
        registered: {
          agentId: "agent-2",
          heartbeatIntervalSeconds: 1,
          agentSecret: "",
          clusterId: "",
          ...NO_SWARM,
        },
      };
    };
    s.call.end();
    const fresh = await master.waitStreams(3);
    assert.equal(fresh.register.agentId, "", "a stale agent registers without its old id");
    assert.deepEqual(fresh.register.tasks, []);
    const s4 = await master.waitStreams(4);
    assert.ok(
      s4.openedAt - fresh.openedAt >= 100,
      "a refusal other than STALE_AGENT is retried after a backoff",
    );
    assert.equal(s4.register.agentId, "");
    const pid = Number(fs.readFileSync(`${dirs.at(-1)}/sandboxes/${taskName(FW, "d-stale")}/pid`, "utf8"));
    assert.equal(processStartTime(pid), undefined, "the stale agent's task was killed");
    // The task was killed, and no update about it goes to the new identity.
    assert.equal(
      statusesOf(master, "d-stale").some((st) => st.state === TaskState.TASK_KILLED),
      false,
    );
  });

  test("WRONG_CLUSTER: the agent keeps its tasks, acts on nothing and keeps retrying; it presents the cluster id it adopted", async () => {
    const { master, start } = await setup();
    const registered = (reg: { agentId: string }) => ({
      registered: {
        agentId: reg.agentId || "agent-1",
        heartbeatIntervalSeconds: 0.2,
        agentSecret: "",
        clusterId: "cluster-a",
        ...NO_SWARM,
      },
    });
    master.answer = registered;
    await start();
    const s = await master.waitStreams(1);
    assert.equal(s.register.clusterId, "", "a new agent belongs to no cluster yet");
    s.call.write({
      runTask: { user: "", frameworkId: FW, task: shellTask("d-wrong", "echo $$ > pid; exec sleep 30") },
    });
    const running = await waitState(master, "d-wrong", TaskState.TASK_RUNNING);
    s.call.write({ ack: { taskId: "d-wrong", uuid: running.uuid, frameworkId: FW } });
    const pidFile = `${dirs.at(-1)}/sandboxes/${taskName(FW, "d-wrong")}/pid`;
    const pid = await waitFor("the task's pid file", () =>
      fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, "utf8")) || undefined : undefined,
    );
    pids.push(pid);
    const startedAt = processStartTime(pid);

    master.answer = (reg) =>
      reg.clusterId === "cluster-a"
        ? { refused: { reason: "WRONG_CLUSTER", message: "this master is cluster-b" } }
        : registered(reg);
    s.call.end();
    const refused = await master.waitStreams(4, 20_000);
    assert.equal(refused.register.clusterId, "cluster-a", "the agent presents the cluster it adopted");
    assert.equal(refused.register.agentId, "agent-1", "it keeps its id");
    assert.deepEqual(
      refused.register.tasks.map((t) => t.task?.taskId),
      ["d-wrong"],
    );
    assert.equal(processStartTime(pid), startedAt, "the task runs after three refusals");
    assert.equal(
      statusesOf(master, "d-wrong").some((st) => st.state === TaskState.TASK_KILLED),
      false,
    );

    // A master of its own cluster again: the agent registers with its task still running.
    master.answer = registered;
    const back = await waitFor("a registration that is accepted", () =>
      master.streams.find((x) => x.openedAt >= refused.openedAt && x !== refused && !x.ended),
    );
    assert.deepEqual(
      back.register.tasks.map((t) => [t.task?.taskId, t.state]),
      [["d-wrong", TaskState.TASK_RUNNING]],
    );
  });
});
