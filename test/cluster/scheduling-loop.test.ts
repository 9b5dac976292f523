// The two-level scheduling loop end to end, with real processes on 127.0.0.1: one master,
// three agents (yardctl daemons) and two frameworks (SDK drivers). Slow suite.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TaskState } from "../../common/task-states.js";
import { pidsOfTask, TestCluster, waitFor } from "./harness.js";
import { QueueFramework } from "./queue-framework.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("scheduling loop (master, 3 agents, 2 frameworks)", { timeout: 240_000 }, () => {
  const cluster = new TestCluster(["--agent-timeout", "4", "--agent-gone-timeout", "3"]);
  let fwA: QueueFramework;
  let fwB: QueueFramework;

  before(async () => {
    await cluster.startMaster();
    for (let i = 0; i < 3; i++) await cluster.startAgent({ cpus: 2, mem: 2048 });
    await cluster.waitForAgents(3);
    fwA = new QueueFramework(cluster.masterAddress, cluster.token, "alpha");
    fwB = new QueueFramework(cluster.masterAddress, cluster.token, "beta");
    await fwA.start();
    await fwB.start();
  });

  after(async () => {
    await fwA?.driver.stop();
    await fwB?.driver.stop();
    await cluster.stop();
  });

  test("30 tasks from two frameworks are launched and finish", async () => {
    const idsA = Array.from({ length: 15 }, (_, i) => `a-${i}`);
    const idsB = Array.from({ length: 15 }, (_, i) => `b-${i}`);
    fwA.submit(...idsA.map((taskId) => ({ taskId, command: "sleep 0.2; echo done-$YARD_TASK_ID" })));
    fwB.submit(...idsB.map((taskId) => ({ taskId, command: "sleep 0.2" })));
    const statuses = [
      ...(await fwA.waitForTerminal(idsA, 60_000)),
      ...(await fwB.waitForTerminal(idsB, 60_000)),
    ];
    assert.equal(statuses.length, 30);
    for (const s of statuses) assert.equal(s.state, TaskState.TASK_FINISHED, `${s.taskId}: ${s.message}`);
    // Every task passed through RUNNING on its way, reported by its agent.
    const running = new Set(
      fwA.updates
        .concat(fwB.updates)
        .filter((u) => u.state === TaskState.TASK_RUNNING)
        .map((u) => u.taskId),
    );
    for (const id of [...idsA, ...idsB]) assert.ok(running.has(id), `${id} was never RUNNING`);
    const agentsUsed = new Set(statuses.map((s) => s.agentId));
    assert.ok(agentsUsed.size >= 2, `tasks ran on ${agentsUsed.size} agent(s) only`);
    const log = await cluster.yardctl(["logs", "a-3"]);
    assert.equal(log.code, 0, log.stderr);
    assert.equal(log.stdout.trim(), "done-a-3");
  });

  test("a master killed with SIGKILL comes back with its registry", async () => {
    fwA.submit({ taskId: "long-a", command: "sleep 600" });
    await fwA.waitForState("long-a", TaskState.TASK_RUNNING);
    const agentsBefore = (await cluster.getAgents()).map((a) => a.info!.id).sort();
    const frameworksBefore = (await cluster.getFrameworks()).map((f) => f.info!.id).sort();
    const tasksBefore = new Map((await cluster.getTasks()).map((t) => [t.info!.taskId, t.status!.state]));

    await cluster.kill(cluster.master, "SIGKILL");
    await cluster.startMaster();

    await cluster.waitForAgents(3);
    assert.deepEqual((await cluster.getAgents()).map((a) => a.info!.id).sort(), agentsBefore);
    await waitFor(
      "both frameworks to re-subscribe",
      async () => (await cluster.getFrameworks()).filter((f) => f.status === "CONNECTED").length === 2,
    );
    assert.deepEqual((await cluster.getFrameworks()).map((f) => f.info!.id).sort(), frameworksBefore);
    const tasksAfter = new Map((await cluster.getTasks()).map((t) => [t.info!.taskId, t.status!.state]));
    for (const [id, state] of tasksBefore) assert.equal(tasksAfter.get(id), state, `state of ${id}`);
    assert.equal(tasksAfter.get("long-a"), TaskState.TASK_RUNNING);

    // The loop still works after the restart.
    fwB.submit({ taskId: "after-restart", command: "true" });
    assert.equal((await fwB.waitForTerminal(["after-restart"]))[0]!.state, TaskState.TASK_FINISHED);
  });

  test("an agent restarted keeps its running tasks", async () => {
    const tasks = await cluster.getTasks(false);
    const long = tasks.find((t) => t.info!.taskId === "long-a")!;
    const index = (await cluster.getAgents()).findIndex((a) => a.info!.id === long.info!.agentId);
    const hostIndex = Number((await cluster.getAgents())[index]!.info!.hostname.replace("host-", ""));
    const pidsBefore = pidsOfTask(cluster.root, "long-a");
    assert.ok(pidsBefore.length > 0, "the task's process runs");

    await cluster.kill(cluster.agents[hostIndex], "SIGKILL");
    assert.ok(pidsBefore.every(alive), "the task outlives its agent");
    await cluster.restartAgent(hostIndex);
    const back = await waitFor("the agent to re-register", async () =>
      (await cluster.getAgents()).find((a) => a.info!.id === long.info!.agentId && a.status === "ACTIVE"),
    );
    // A message from the agent after that (its stream is ordered): whatever it reported at
    // its re-registration (an update resent, the task's end) has reached the master by then.
    await waitFor("a message from the re-registered agent", async () =>
      (await cluster.getAgents()).find(
        (a) => a.info!.id === back.info!.id && a.lastHeartbeat > back.lastHeartbeat,
      ),
    );
    const after = (await cluster.getTasks(false)).find((t) => t.info!.taskId === "long-a");
    assert.equal(after?.status?.state, TaskState.TASK_RUNNING);
    assert.ok(pidsBefore.every(alive), "the same process still runs");

    // The re-attached agent still controls it.
    await fwA.driver.kill("long-a");
    const killed = await fwA.waitForState("long-a", TaskState.TASK_KILLED);
    assert.equal(killed.agentId, long.info!.agentId);
    await waitFor("the process to be gone", () => pidsBefore.every((p) => !alive(p)));
  });

  test("an agent killed with SIGKILL: its tasks are UNREACHABLE, then LOST once it is gone", async () => {
    const agents = await cluster.getAgents();
    const victim = agents.find((a) => a.info!.hostname === "host-2")!;
    fwB.submit(
      { taskId: "doomed-1", command: "sleep 600", agentId: victim.info!.id },
      { taskId: "doomed-2", command: "sleep 600", agentId: victim.info!.id },
    );
    await fwB.waitForState("doomed-1", TaskState.TASK_RUNNING);
    await fwB.waitForState("doomed-2", TaskState.TASK_RUNNING);

    await cluster.kill(cluster.agents[2], "SIGKILL");
    const updatesOf = (id: string) => fwB.updates.filter((u) => u.taskId === id && u.uuid !== "");
    for (const id of ["doomed-1", "doomed-2"]) {
      await waitFor(`${id} to be LOST`, () => updatesOf(id).some((u) => u.state === TaskState.TASK_LOST));
      const seen = updatesOf(id);
      const unreachable = seen.findIndex((u) => u.state === TaskState.TASK_UNREACHABLE);
      const lost = seen.findIndex((u) => u.state === TaskState.TASK_LOST);
      assert.ok(unreachable >= 0 && unreachable < lost, `${id}: UNREACHABLE before LOST`);
      assert.equal(seen[unreachable]!.reason, "REASON_AGENT_UNREACHABLE");
      assert.equal(seen[lost]!.reason, "REASON_AGENT_GONE");
    }
    const state = (await cluster.getAgents()).find((a) => a.info!.id === victim.info!.id);
    assert.equal(state?.status, "LOST");

    // When it comes back, the master reconciles: the tasks it declared lost are killed, and
    // their KILLED is not a second end.
    const pids = pidsOfTask(cluster.root, "doomed-1");
    await cluster.restartAgent(2);
    await waitFor("the lost agent to come back", async () =>
      (await cluster.getAgents()).find((a) => a.info!.id === victim.info!.id && a.status === "ACTIVE"),
    );
    await waitFor("the lost task's process to be killed", () => pids.every((p) => !alive(p)), 20_000);
    await waitFor("the killed tasks' resources to be free again", async () => {
      const a = (await cluster.getAgents()).find((x) => x.info!.id === victim.info!.id);
      return a?.allocated?.cpus === 0;
    });
    // Updates reach a framework in order: once this one is in, a KILLED sent before it is too.
    fwB.submit({ taskId: "after-return", command: "true" });
    await fwB.waitForTerminal(["after-return"]);
    for (const id of ["doomed-1", "doomed-2"]) {
      const ends = updatesOf(id).filter(
        (u) => u.state === TaskState.TASK_LOST || u.state === TaskState.TASK_KILLED,
      );
      assert.deepEqual(
        [...new Set(ends.map((u) => u.uuid))].length,
        1,
        `${id} got one terminal update: ${ends.map((u) => TaskState[u.state]).join(", ")}`,
      );
    }
  });
});
