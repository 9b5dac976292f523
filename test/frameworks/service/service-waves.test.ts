// End to end with the distributor: a rollout stages its release in waves, step k+1's agents
// while step k waits out its min healthy time, or every agent before step 1 with
// `rollout.stage: all`. Real master, agents (process executor), service framework, releases.
// Slow suite.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { authMetadata } from "../../../common/auth.js";
import type { AppStatus, DeployServiceClient } from "../../../proto/gen/yard/v1/deploy.js";
import { TestCluster } from "../../cluster/harness.js";
import { type ServiceCluster, startServiceCluster } from "./service-cluster.js";

const AGENTS = 4;
const SERVER = (v: string) =>
  `require('http').createServer((q,s)=>s.end('${v}')).listen(process.env.PORT0,'127.0.0.1')\n`;

function spec(app: string, version: string, rollout: string): string {
  return [
    `name: ${app}`,
    `release: ${app}@${version}`,
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} server.js`)}`,
    "instances: 3",
    "resources: { cpus: 0.1, mem: 32, ports: 1 }",
    "constraints: [hostname UNIQUE]",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    `rollout: { ${rollout}, max_surge: 1, max_unavailable: 0, min_healthy_time: 2, progress_deadline: 60 }`,
    "",
  ].join("\n");
}

const cluster = new TestCluster();
let serviceCluster: ServiceCluster | undefined;
let client: DeployServiceClient | undefined;

before(async () => {
  serviceCluster = await startServiceCluster(cluster, AGENTS);
  client = serviceCluster.client;
  for (const app of ["next", "all"]) {
    for (const v of ["1", "2"]) {
      const dir = path.join(cluster.root, `${app}-${v}`);
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, "server.js"), SERVER(`${app} v${v}`));
      const r = await cluster.yardctl(["release", "push", `${app}@${v}`, dir]);
      assert.equal(r.code, 0, r.stderr);
    }
  }
});

after(async () => {
  await (serviceCluster ? serviceCluster.stop() : cluster.stop());
});

/** Deploys v1, then v2 of the app, and returns every view of v2's deployment until it ended. */
async function rollTwice(app: string, rollout: string): Promise<AppStatus[]> {
  const file = path.join(cluster.root, `${app}.yaml`);
  fs.writeFileSync(file, spec(app, "1", rollout));
  const v1 = await cluster.yardctl(["deploy", "-f", file, "--watch"], 90_000);
  assert.equal(v1.code, 0, `${v1.stdout}\n${v1.stderr}`);
  fs.writeFileSync(file, spec(app, "2", rollout));
  const applied = await cluster.yardctl(["deploy", "-f", file], 30_000);
  assert.equal(applied.code, 0, applied.stderr);
  const depId = /deployment (\S+) started/.exec(applied.stdout)?.[1] ?? "";
  const seen: AppStatus[] = [];
  await new Promise<void>((resolve, reject) => {
    const call = client!.watchApp({ app, deploymentId: depId }, authMetadata(cluster.token));
    call.on("data", (s: AppStatus) => seen.push(s));
    call.on("end", () => resolve());
    call.on("error", reject);
  });
  const last = seen[seen.length - 1]!;
  assert.equal(last.deployment?.state, "SUCCEEDED", last.deployment?.message);
  return seen;
}

describe("rollouts stage their release in waves", () => {
  test("stage: next — step 2's agents hold the release before step 1's min healthy time ends", async () => {
    const seen = await rollTwice("next", "steps: [1, 2, 3]");
    const d = seen[seen.length - 1]!.deployment!;
    assert.equal(d.stageMode, "next");
    // One wave per step, proportional to the steps: 4 agents for 3 instances stage 2, 1, 1.
    assert.deepEqual(
      d.waves.map((w) => [w.step, w.through, w.state, w.agents, w.agentsDone]),
      [
        [1, 1, "DONE", 2, 2],
        [2, 2, "DONE", 1, 1],
        [3, 3, "DONE", 1, 1],
      ],
    );
    for (const w of d.waves.slice(1)) {
      assert.equal(w.waited, false, `step ${w.step} waited for its wave`);
      assert.ok(
        w.doneInStep >= 1 && w.doneInStep <= w.step - 1,
        `the wave of step ${w.step} was done in step ${w.doneInStep}`,
      );
    }
    // In the views, in order: the wave of step 2 was DONE while step 1 had not reached its
    // target (a v1 instance was still to stop), so step 1's min healthy time had not ended.
    const early = seen.findIndex(
      (s) => s.deployment!.step === 1 && s.deployment!.waves.find((w) => w.step === 2)?.state === "DONE",
    );
    assert.ok(early >= 0, "the wave of step 2 was never seen done during step 1");
    const stepOneOver = seen.findIndex((s) => s.deployment!.step >= 2);
    assert.ok(early < stepOneOver, `wave 2 done at view ${early}, step 2 began at view ${stepOneOver}`);
    // Every new instance, at every moment, ran on an agent that a wave had staged.
    for (const s of seen) {
      const staged = new Set(
        s.deployment!.waves.flatMap((w) => w.fetches.filter((f) => f.state === "DONE").map((f) => f.agentId)),
      );
      for (const t of s.tasks.filter((t) => t.revision === 2)) {
        assert.ok(staged.has(t.agentId), `${t.taskId} runs on ${t.hostname}, not staged yet`);
      }
    }
    // The master agrees: the agents of the waves hold the release.
    const r = await cluster.yardctl(["release", "status", "next@2", "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    const held = new Set(
      (JSON.parse(r.stdout).agents as { agentId: string; state: string }[])
        .filter((a) => a.state === "DONE")
        .map((a) => a.agentId),
    );
    for (const w of d.waves) for (const f of w.fetches) assert.ok(held.has(f.agentId), f.hostname);
    // rollout status -o json carries the waves.
    const st = await cluster.yardctl(["rollout", "status", "next", "-o", "json"]);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).deployment.waves.length, 3);
  });

  test("stage: all — every target agent holds the release before step 1 launches", async () => {
    const seen = await rollTwice("all", "steps: [1, 2, 3], stage: all");
    const d = seen[seen.length - 1]!.deployment!;
    assert.equal(d.stageMode, "all");
    assert.deepEqual(
      d.waves.map((w) => [w.step, w.through, w.state, w.agents, w.agentsDone]),
      [[1, 3, "DONE", AGENTS, AGENTS]],
    );
    const firstNew = seen.findIndex((s) => s.tasks.some((t) => t.revision === 2));
    assert.ok(firstNew >= 0, "no v2 instance was seen");
    const w = seen[firstNew]!.deployment!.waves[0]!;
    assert.equal(w.state, "DONE", "the staging was not done when the first v2 instance appeared");
    assert.equal(w.agentsDone, AGENTS);
  });
});
