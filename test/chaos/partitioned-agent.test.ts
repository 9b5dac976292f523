// Issue 9, defect 2: an agent silent past the agent timeout in the middle of a rollout made a
// healthy revision's deployment fail and roll back, and raised the crash-loop backoff.
// Real master, three agents and the service framework as processes; the agent holding most
// instances is SIGSTOPped mid-rollout until the framework has replaced its instances, then
// SIGCONTed. Invariants: the deployment succeeds (no rollback, no failure counted, no
// backoff), after the heal exactly `instances` instances run (no duplicate), and no task's
// terminal state ever changed. Then an agent back before `unreachable.replace_after` keeps
// its instances: RUNNING again, none replaced.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { isTerminal, TaskState } from "../../common/task-states.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { httpServerCommand, Stopper, TaskEndWatch } from "./partition-helpers.js";
import { ServiceFrameworkProcess } from "./service-process.js";

const INSTANCES = 4;

function spec(version: string, replaceAfter = "1s"): string {
  return [
    "name: web",
    `command: ${JSON.stringify(httpServerCommand())}`,
    `env: { VERSION: ${version} }`,
    `instances: ${INSTANCES}`,
    "resources: { cpus: 0.3, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    `unreachable: { replace_after: ${replaceAfter} }`,
    "rollout:",
    "  steps: [100%]",
    "  max_surge: 1",
    "  max_unavailable: 0",
    // Slow steps, so that the agent is stopped while the rollout is under way.
    "  min_healthy_time: 3",
    "  progress_deadline: 60",
    // One counted failure would fail the deployment and roll it back.
    "  max_failures: 1",
    "  auto_rollback: true",
    "",
  ].join("\n");
}

describe("chaos: an agent partitioned mid-rollout", { timeout: 120_000 }, () => {
  // The gone timeout stays at its default: the agent comes back long before it.
  const cluster = new TestCluster(["--agent-timeout", "3"]);
  const service = new ServiceFrameworkProcess(cluster);
  const stopper = new Stopper();
  let ends: TaskEndWatch | undefined;

  before(async () => {
    await cluster.startMaster();
    // 0.3 cpu each, at most 3 instances per agent: the app spreads over the agents.
    for (let i = 0; i < 3; i++) await cluster.startAgent({ cpus: 1, mem: 1024 });
    await cluster.waitForAgents(3);
    ends = new TaskEndWatch(cluster);
    await service.start();
  });

  after(async () => {
    stopper.resumeAll();
    ends?.close();
    await service.stop();
    await cluster.stop();
  });

  async function deploy(version: string, watch: boolean, replaceAfter?: string) {
    const file = path.join(cluster.root, `web-${version}.yaml`);
    fs.writeFileSync(file, spec(version, replaceAfter));
    return cluster.yardctl(["deploy", "-f", file, ...(watch ? ["--watch"] : [])], 90_000);
  }

  test("the healthy revision still rolls out; no duplicate after the heal; no end changed", async () => {
    const v1 = await deploy("v1", true);
    assert.equal(v1.code, 0, `${v1.stdout}\n${v1.stderr}\n${service.output.join("")}`);

    const v2 = await deploy("v2", false);
    assert.equal(v2.code, 0, v2.stderr);
    // Sample the app all along: the crash-loop backoff must never be raised.
    let backoffSeen = "";
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await service.app("web").catch(() => undefined);
        if (s && s.crashBackoffUntil > 0 && !backoffSeen) backoffSeen = JSON.stringify(s.tasks);
        await new Promise((r) => setTimeout(r, 150));
      }
    })();

    try {
      // Mid-rollout: a new instance runs, the deployment is not done.
      const mid = await waitFor("a v2 instance running mid-rollout", async () => {
        const s = await service.app("web");
        const running = s.tasks.some((t) => t.revision === 2 && t.state === TaskState.TASK_RUNNING);
        return running && s.deployment?.toRevision === 2 && s.deployment.state === "RUNNING" && s;
      });
      const perAgent = new Map<string, number>();
      for (const t of mid.tasks) perAgent.set(t.agentId, (perAgent.get(t.agentId) ?? 0) + 1);
      const [victimId] = [...perAgent.entries()].sort((a, b) => b[1] - a[1])[0]!;
      const victim = (await cluster.getAgents()).find((a) => a.info!.id === victimId)!;
      const index = Number(victim.info!.hostname.replace("host-", ""));
      const onVictim = mid.tasks.filter((t) => t.agentId === victimId).map((t) => t.taskId);
      assert.ok(onVictim.length > 0, "the stopped agent runs instances");

      stopper.stop(cluster.agents[index]);
      try {
        await waitFor(
          "the master to find the agent unreachable",
          async () =>
            (await cluster.getAgents()).find((a) => a.info!.id === victimId)?.status === "UNREACHABLE",
        );
        // The framework replaces what it cannot reach once unreachable.replace_after is over.
        await waitFor("the instances on the silent agent to be replaced", async () => {
          const s = await service.app("web");
          return s.tasks.filter((t) => t.agentId === victimId).every((t) => t.stopping);
        });
      } finally {
        stopper.resume(cluster.agents[index]);
      }

      const done = await waitFor(
        "the v2 deployment to end",
        async () => {
          const d = (await service.app("web")).deployment;
          return d && d.toRevision === 2 && !["RUNNING", "STAGING", "PAUSED"].includes(d.state) && d;
        },
        60_000,
      );
      assert.equal(done.state, "SUCCEEDED", `${done.message} ${done.failure}\n${service.output.join("")}`);
      assert.equal(done.rollingBack, false);
      assert.equal(done.failures, 0, "an instance lost with its agent counted as a failure");

      // The heal: the agent is back, and what it ran that was replaced has ended there.
      await waitFor("the agent to be back", async () =>
        (await cluster.getAgents()).some((a) => a.info!.id === victimId && a.status === "ACTIVE"),
      );
      for (const id of onVictim) await ends!.sawState(id, (s) => isTerminal(s));
      const live = (await cluster.getTasks(false)).filter((t) => !isTerminal(t.status!.state));
      assert.equal(live.length, INSTANCES, `live tasks after the heal: ${live.map((t) => t.info!.taskId)}`);
      assert.ok(
        live.every((t) => t.info!.taskId.startsWith("web.2.")),
        "every live task is of revision 2",
      );
      const app = await service.app("web");
      assert.equal(app.tasks.filter((t) => !t.stopping).length, INSTANCES);
    } finally {
      sampling = false;
      await sampler;
    }
    assert.equal(backoffSeen, "", `the crash-loop backoff was raised: ${backoffSeen}`);
    assert.deepEqual(ends!.violations(), [], "a terminal state changed");
  });
  test("an agent back before unreachable.replace_after keeps its instances: no replacement, no end", async () => {
    const v3 = await deploy("v3", true, "5m");
    assert.equal(v3.code, 0, `${v3.stdout}\n${v3.stderr}\n${service.output.join("")}`);
    const before = await service.app("web");
    const ids = before.tasks.map((t) => t.taskId).sort();
    assert.equal(ids.length, INSTANCES);
    const victimId = before.tasks[0]!.agentId;
    const onVictim = before.tasks.filter((t) => t.agentId === victimId).map((t) => t.taskId);
    const victim = (await cluster.getAgents()).find((a) => a.info!.id === victimId)!;
    const index = Number(victim.info!.hostname.replace("host-", ""));

    stopper.stop(cluster.agents[index]);
    try {
      await waitFor("the framework to see its instances unreachable", async () => {
        const s = await service.app("web");
        return onVictim.every(
          (id) => s.tasks.find((t) => t.taskId === id)?.state === TaskState.TASK_UNREACHABLE,
        );
      });
    } finally {
      stopper.resume(cluster.agents[index]);
    }
    await waitFor("the instances to run again where they were", async () => {
      const s = await service.app("web");
      return onVictim.every((id) => s.tasks.find((t) => t.taskId === id)?.state === TaskState.TASK_RUNNING);
    });
    for (const id of onVictim) await ends!.sawState(id, (s) => s === TaskState.TASK_RUNNING);
    const after = await service.app("web");
    assert.deepEqual(after.tasks.map((t) => t.taskId).sort(), ids, "the same instances, none replaced");
    assert.ok(after.tasks.every((t) => !t.stopping));
    const live = (await cluster.getTasks(false)).filter((t) => !isTerminal(t.status!.state));
    assert.deepEqual(live.map((t) => t.info!.taskId).sort(), ids);
    assert.deepEqual(ends!.violations(), [], "a terminal state changed");
  });
});
