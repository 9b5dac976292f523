// Issue 9, defect 3: after a master stall (SIGSTOP 22 s) the master declared a healthy agent
// lost the moment it resumed, its tasks went LOST and then FINISHED 60 ms later: two
// terminal updates for one task. Real master and agents as processes, a framework on the
// SDK recording every update it receives. The master is SIGSTOPped longer than the agent
// timeout while short tasks end on the agents, then SIGCONTed. Invariants: no agent is
// declared unreachable or lost, no task gets two terminal updates, and no stored terminal
// state changes.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isTerminal, TaskState } from "../../common/task-states.js";
import { TestCluster } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import { Stopper, TaskEndWatch } from "./partition-helpers.js";

const AGENT_TIMEOUT_S = 3;

describe("chaos: a master stalled past the agent timeout", { timeout: 90_000 }, () => {
  const cluster = new TestCluster(["--agent-timeout", String(AGENT_TIMEOUT_S)]);
  const stopper = new Stopper();
  let fw: QueueFramework | undefined;
  let ends: TaskEndWatch | undefined;

  before(async () => {
    await cluster.startMaster();
    for (let i = 0; i < 2; i++) await cluster.startAgent({ cpus: 2, mem: 1024 });
    await cluster.waitForAgents(2);
    ends = new TaskEndWatch(cluster);
    fw = new QueueFramework(cluster.masterAddress, cluster.token, "stall");
    await fw.start();
  });

  after(async () => {
    stopper.resumeAll();
    ends?.close();
    await fw?.driver.stop();
    await cluster.stop();
  });

  test("no agent is declared lost at the resume and no task ends twice", async () => {
    const f = fw!;
    const long = ["long-0", "long-1", "long-2", "long-3"];
    f.submit(...long.map((taskId) => ({ taskId, command: "sleep 600" })));
    for (const id of long) await f.waitForState(id, TaskState.TASK_RUNNING);
    // Tasks that end while the master stands still: their FINISHED waits in the agents.
    const short = ["short-0", "short-1", "short-2", "short-3"];
    f.submit(...short.map((taskId) => ({ taskId, command: "sleep 1.5" })));
    for (const id of short) await f.waitForState(id, TaskState.TASK_RUNNING);
    const agentsBefore = (await cluster.getAgents()).map((a) => a.info!.id);

    stopper.stop(cluster.master);
    try {
      // Longer than the agent timeout, and long enough for the short tasks to end.
      await new Promise((r) => setTimeout(r, (AGENT_TIMEOUT_S + 2.5) * 1000));
    } finally {
      stopper.resume(cluster.master);
    }

    // Positive signal: the master has read what the agents sent during the stall, so its
    // first maintenance ticks after the resume (where a loss would be declared) are over.
    await f.waitForTerminal(short, 30_000);
    for (const id of short)
      assert.equal(f.state(id), TaskState.TASK_FINISHED, `${id}: ${f.latest.get(id)?.message}`);
    const agents = await cluster.getAgents();
    for (const id of agentsBefore) {
      assert.equal(agents.find((a) => a.info!.id === id)?.status, "ACTIVE", `agent ${id}`);
    }
    const declared = ends!.agentEvents.filter(
      (e) => e.type === "AGENT_UNREACHABLE" || e.type === "AGENT_LOST",
    );
    assert.deepEqual(
      declared.map((e) => `${e.type} ${e.agentId}`),
      [],
      "an agent was declared unreachable or lost",
    );
    for (const id of long) assert.equal(f.state(id), TaskState.TASK_RUNNING, id);
    assert.ok(
      !f.updates.some((u) => u.state === TaskState.TASK_UNREACHABLE || u.state === TaskState.TASK_LOST),
      "the framework heard of an unreachable or lost task",
    );

    // Every task ended once: one terminal state, one terminal update (resends keep its uuid).
    for (const id of [...long, ...short]) {
      const terminal = f.updates.filter((u) => u.taskId === id && isTerminal(u.state) && u.uuid !== "");
      assert.ok(
        new Set(terminal.map((u) => u.state)).size <= 1,
        `${id}: ${terminal.map((u) => TaskState[u.state])}`,
      );
      assert.ok(
        new Set(terminal.map((u) => u.uuid)).size <= 1,
        `${id} got ${terminal.length} terminal updates`,
      );
    }
    for (const id of short) await ends!.sawState(id, (s) => s === TaskState.TASK_FINISHED);
    assert.deepEqual(ends!.violations(), [], "a stored terminal state changed");
  });
});
