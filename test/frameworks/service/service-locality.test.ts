// Where the bytes already are, end to end: a real master, real agents (process executor), the
// service framework and a pushed release. An app runs on the first two agents, which therefore
// hold its release; three agents join that do not. Each time the app is scaled down to nothing
// and up again, its instances land on the two holders (the offers name what each agent holds,
// and the framework places on holders first), though every agent has room. Scaled past the
// holders, the others fetch the release at launch, and the master's view then lists them
// holding it too. Slow suite.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { authMetadata } from "../../../common/auth.js";
import { unary } from "../../../common/grpc.js";
import { TaskState } from "../../../proto/gen/yard/v1/common.js";
import type { AppStatus, DeployServiceClient } from "../../../proto/gen/yard/v1/deploy.js";
import { TestCluster, waitFor } from "../../cluster/harness.js";
import { type ServiceCluster, startServiceCluster } from "./service-cluster.js";

const SPEC = [
  "name: web",
  "release: web@1",
  "command: exec ./run.sh",
  "instances: 2",
  "resources: { cpus: 0.1, mem: 32 }",
  "constraints: [hostname UNIQUE]",
  "kill_grace: 1",
  "",
].join("\n");

const cluster = new TestCluster();
let serviceCluster: ServiceCluster | undefined;
let client: DeployServiceClient | undefined;

async function app(): Promise<AppStatus> {
  return unary(client!.getApp, client!, { app: "web" }, authMetadata(cluster.token), 5_000);
}

/** Waits until the app runs exactly `n` instances, none stopping; returns their hostnames, sorted. */
async function running(n: number): Promise<string[]> {
  const s = await waitFor(
    `${n} running instance(s) of web`,
    async () => {
      const a = await app();
      const live = a.tasks.filter((t) => !t.stopping);
      return (
        a.tasks.length === n &&
        live.length === n &&
        live.every((t) => t.state === TaskState.TASK_RUNNING) &&
        a
      );
    },
    60_000,
  );
  return s.tasks.map((t) => t.hostname).sort();
}

/** The hostnames the master lists holding web@1 (release status, as an operator sees it). */
async function holders(): Promise<string[]> {
  const r = await cluster.yardctl(["release", "status", "web@1", "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const st = JSON.parse(r.stdout) as { agents?: { hostname: string; state: string }[] };
  return (st.agents ?? [])
    .filter((a) => a.state === "DONE")
    .map((a) => a.hostname)
    .sort();
}

async function scale(n: number): Promise<void> {
  const r = await cluster.yardctl(["scale", "web", String(n)]);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
}

before(async () => {
  serviceCluster = await startServiceCluster(cluster, 2);
  client = serviceCluster.client;
  const dir = path.join(cluster.root, "web-1");
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, "run.sh"), "#!/bin/sh\nexec sleep 600\n", { mode: 0o755 });
  const r = await cluster.yardctl(["release", "push", "web@1", dir]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  await (serviceCluster ? serviceCluster.stop() : cluster.stop());
});

describe("service framework: where the bytes already are", () => {
  test("a scaled-up app lands on the agents that hold its release, while there are others with room", async () => {
    const file = path.join(cluster.root, "web.yaml");
    fs.writeFileSync(file, SPEC);
    const deployed = await cluster.yardctl(["deploy", "-f", file, "--watch"], 90_000);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    assert.deepEqual(await running(2), ["host-0", "host-1"]);
    assert.deepEqual(await holders(), ["host-0", "host-1"], "staged on the two agents the framework knew");

    for (let i = 2; i < 5; i++) await cluster.startAgent({ cpus: 2, mem: 1024 });
    await cluster.waitForAgents(5);

    // Three rounds: without the preference each would pick two of the five agents by the
    // allocator's shuffle (the holders with a chance of 1 in 10 each time).
    for (let round = 1; round <= 3; round++) {
      await scale(0);
      await running(0);
      await scale(2);
      assert.deepEqual(await running(2), ["host-0", "host-1"], `round ${round}`);
    }
    assert.deepEqual(await holders(), ["host-0", "host-1"], "nothing was fetched for the scale-ups");

    // Past the holders (hostname UNIQUE), the new agents are used, and fetch the release at launch;
    // the master's view then lists them too (and so do their next offers).
    await scale(5);
    assert.deepEqual(await running(5), ["host-0", "host-1", "host-2", "host-3", "host-4"]);
    assert.deepEqual(await holders(), ["host-0", "host-1", "host-2", "host-3", "host-4"]);
  });
});
