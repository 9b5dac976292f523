// Defect 1 of the fault suite: restarting the service framework mid-rollout stopped every old
// instance at once, because health lived only in its memory. Now the agents run the checks
// and the verdicts travel in task status: a restarted framework learns them from the
// master's reconciliation. Real master, three agents and the service framework as
// processes; 6 instances of tiny HTTP servers, steps [100%], max_surge 1, max_unavailable 0,
// an http check. The framework is SIGKILLed as soon as the first new instance is launched
// and started again while the master stalls (SIGSTOP), so that it plans before it hears of
// any instance; a poller hits every live task's port from before the deploy to the end.
import { logRecords } from "../log-records.js";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { answer, livePorts, ServingPoller } from "./health-helpers.js";
import { ServiceFrameworkProcess } from "./service-process.js";

const SERVER = `const v=process.env.VERSION;require('http').createServer((q,s)=>s.end(v)).listen(+process.env.PORT0,'127.0.0.1')`;
const INSTANCES = 6;
const MAX_UNAVAILABLE = 0;

function webSpec(version: string): string {
  return [
    "name: web",
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(SERVER)}`)}`,
    `env: { VERSION: ${version} }`,
    `instances: ${INSTANCES}`,
    "resources: { cpus: 0.1, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 5s, grace_period: 10s, failures: 3 }",
    "kill_grace: 1",
    "rollout:",
    "  steps: [100%]",
    "  max_surge: 1",
    `  max_unavailable: ${MAX_UNAVAILABLE}`,
    "  min_healthy_time: 1",
    "  progress_deadline: 60",
    "",
  ].join("\n");
}

/** An app without a health check: RUNNING is healthy. */
const PLAIN = [
  "name: plain",
  "command: sleep 600",
  "instances: 2",
  "resources: { cpus: 0.1, mem: 32 }",
  "rollout: { min_healthy_time: 1 }",
  "",
].join("\n");

const cluster = new TestCluster();
const service = new ServiceFrameworkProcess(cluster);

function deploy(name: string, yaml: string, watch: boolean) {
  const file = path.join(cluster.root, `${name}.yaml`);
  fs.writeFileSync(file, yaml);
  return cluster.yardctl(["deploy", "-f", file, ...(watch ? ["--watch"] : [])], 90_000);
}

before(async () => {
  await cluster.startMaster();
  for (let i = 0; i < 3; i++) await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(3);
  await service.start();
});

after(async () => {
  await service.stop();
  await cluster.stop();
});

describe("the service framework restarted mid-rollout", { concurrency: false, timeout: 120_000 }, () => {
  test("old instances keep serving: never fewer than instances - max_unavailable, the rollout completes, no duplicates", async () => {
    const v1 = await deploy("web-v1", webSpec("v1"), true);
    assert.equal(v1.code, 0, `${v1.stdout}\n${v1.stderr}\n${service.output.join("")}`);

    const poller = new ServingPoller(cluster, "web.");
    poller.start();
    let restartedAt = 0;
    let done: Awaited<ReturnType<typeof service.app>>;
    try {
      await waitFor(
        "the poller to see all v1 instances serve",
        () => poller.samples >= 3 && poller.min >= INSTANCES,
      );

      const v2 = await deploy("web-v2", webSpec("v2"), false);
      assert.equal(v2.code, 0, v2.stderr);
      await waitFor(
        "the first v2 instance to be launched",
        async () => [...(await livePorts(cluster, "web.2.")).keys()].length > 0,
      );
      // The framework dies; it comes back while the master stalls, so its first ticks plan with
      // nothing heard of its instances yet: every one of unknown health.
      const master = cluster.master!.child;
      await service.kill();
      master.kill("SIGSTOP");
      try {
        await service.start({ subscribed: false });
        // A positive signal that the planner ran blind: its first tick, logged once what it
        // decided is stored. Its API cannot be asked now: operators' calls to it are judged by
        // the stalled master (docs/security.md), so its store is read instead.
        await waitFor("a tick of the restarted framework", () =>
          logRecords(service.output.join("")).some(
            (r) => r.msg === "first tick after start" && r.subscribed === false,
          ),
        );
        const db = new Database(path.join(cluster.root, "service-home", "service", "service.db"), {
          readonly: true,
        });
        try {
          const stopping = (db.prepare("SELECT doc FROM instances").all() as { doc: string }[])
            .map((r) => JSON.parse(r.doc) as { taskId: string; app: string; stopping: boolean })
            .filter((i) => i.app === "web" && i.stopping)
            .map((i) => i.taskId);
          assert.deepEqual(stopping, [], "no instance of unknown health is stopped");
        } finally {
          db.close();
        }
      } finally {
        master.kill("SIGCONT");
      }
      restartedAt = poller.samples;
      await service.subscribed();

      done = await waitFor(
        "the rollout to v2 to succeed",
        async () => {
          const s = await service.app("web");
          return s.deployment?.toRevision === 2 && s.deployment.state === "SUCCEEDED" && s;
        },
        90_000,
        200,
      );
      // A few more samples after the end, then the verdict.
      const endSamples = poller.samples;
      await waitFor("samples after the rollout", () => poller.samples >= endSamples + 3);
    } finally {
      await poller.stop();
    }
    assert.ok(
      poller.samples > restartedAt + 5,
      `only ${poller.samples - restartedAt} samples after the restart`,
    );
    assert.ok(
      poller.min >= INSTANCES - MAX_UNAVAILABLE,
      `only ${poller.min} instance(s) served at some moment (floor ${INSTANCES - MAX_UNAVAILABLE}): ${JSON.stringify(poller.worst)}\n${service.output.join("")}`,
    );

    // No duplicates: exactly the app's instances run, all v2, each once, and all answer v2.
    const live = await livePorts(cluster, "web.");
    assert.equal(live.size, INSTANCES, `live tasks: ${[...live.keys()].join(", ")}`);
    assert.ok(
      [...live.keys()].every((id) => id.startsWith("web.2.")),
      [...live.keys()].join(", "),
    );
    const bodies = await Promise.all([...live.values()].map((p) => answer(p)));
    assert.deepEqual(bodies, Array(INSTANCES).fill("v2"));
    const ids = done.tasks
      .filter((t) => !t.stopping)
      .map((t) => t.taskId)
      .sort();
    assert.deepEqual(ids, [...live.keys()].sort());
  });

  test("an app without a health check shows its instances ready after a framework restart", async () => {
    const r = await deploy("plain", PLAIN, true);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const readyIds = async () =>
      (await service.app("plain")).tasks
        .filter((t) => t.ready && t.healthy)
        .map((t) => t.taskId)
        .sort();
    const before = await readyIds();
    assert.equal(before.length, 2);

    await service.kill();
    await service.start();
    // The same two instances, ready again from what the master keeps of their status.
    await waitFor("both instances ready after the restart", async () => {
      const now = await readyIds();
      return now.length === 2 && now.join() === before.join();
    });
    const get = await cluster.yardctl(["get", "apps"]);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, /plain\s.*2\/2/);
  });
});
