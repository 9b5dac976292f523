// End to end with the distributor: releases pushed to a real master, staged on real agents
// by the service framework before a rollout replaces anything. Slow suite.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { authMetadata } from "../../../common/auth.js";
import { unary } from "../../../common/grpc.js";
import type { AppStatus, DeployServiceClient } from "../../../proto/gen/yard/v1/deploy.js";
import { TestCluster } from "../../cluster/harness.js";
import { type ServiceCluster, startServiceCluster } from "./service-cluster.js";

const SERVER = (v: string) =>
  `require('http').createServer((q,s)=>s.end('${v}')).listen(process.env.PORT0,'127.0.0.1')\n`;

function spec(version: string): string {
  return [
    "name: web",
    `release: web@${version}`,
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} server.js`)}`,
    "instances: 2",
    "resources: { cpus: 0.1, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    "rollout: { steps: [1, 100%], max_surge: 1, max_unavailable: 0, min_healthy_time: 1, progress_deadline: 20 }",
    "",
  ].join("\n");
}

function get(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: 1000, agent: false }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

const cluster = new TestCluster();
let serviceCluster: ServiceCluster | undefined;
let client: DeployServiceClient | undefined;

before(async () => {
  serviceCluster = await startServiceCluster(cluster, 2);
  client = serviceCluster.client;
  for (const v of ["1", "2"]) {
    const dir = path.join(cluster.root, `web-${v}`);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "server.js"), SERVER(`v${v}`));
    const r = await cluster.yardctl(["release", "push", `web@${v}`, dir]);
    assert.equal(r.code, 0, r.stderr);
  }
});

after(async () => {
  await (serviceCluster ? serviceCluster.stop() : cluster.stop());
});

describe("service framework with the distributor", () => {
  test("the release is on every target agent before any old instance stops", async () => {
    const file = path.join(cluster.root, "web.yaml");
    fs.writeFileSync(file, spec("1"));
    const v1 = await cluster.yardctl(["deploy", "-f", file, "--watch"], 60_000);
    assert.equal(v1.code, 0, `${v1.stdout}\n${v1.stderr}`);

    fs.writeFileSync(file, spec("2"));
    const applied = await cluster.yardctl(["deploy", "-f", file], 30_000);
    assert.equal(applied.code, 0, applied.stderr);
    const depId = /deployment (\S+) started/.exec(applied.stdout)?.[1] ?? "";
    const seen: AppStatus[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client!.watchApp({ app: "web", deploymentId: depId }, authMetadata(cluster.token));
      call.on("data", (s: AppStatus) => seen.push(s));
      call.on("end", () => resolve());
      call.on("error", reject);
    });
    const last = seen[seen.length - 1]!;
    assert.equal(last.deployment?.state, "SUCCEEDED", last.deployment?.message);
    const firstStop = seen.findIndex((s) => s.tasks.some((t) => t.revision === 1 && t.stopping));
    assert.ok(firstStop >= 0, "no v1 instance was seen stopping");
    const atStop = seen[firstStop]!.deployment!;
    assert.equal(
      atStop.staging?.complete,
      true,
      "staging was not complete when the first v1 instance stopped",
    );
    assert.ok(atStop.staging!.agents.length >= 1);
    assert.ok(
      atStop.staging!.agents.every((a) => a.state === "DONE"),
      JSON.stringify(atStop.staging!.agents),
    );
    const s = await unary(client!.getApp, client!, { app: "web" }, authMetadata(cluster.token), 5_000);
    const bodies = await Promise.all(s.tasks.filter((t) => !t.stopping).map((t) => get(t.port)));
    assert.deepEqual(bodies, ["v2", "v2"]);
  });

  test("a spec naming a release the master does not store is refused at apply: exit 2, naming it", async () => {
    const file = path.join(cluster.root, "ghost.yaml");
    fs.writeFileSync(file, spec("9").replace("name: web", "name: ghost"));
    const r = await cluster.yardctl(["deploy", "-f", file], 30_000);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /release: web@9 is not stored on the master; push it first/);
    assert.match(r.stderr, /the spec was not applied/);
    await assert.rejects(
      unary(client!.getApp, client!, { app: "ghost" }, authMetadata(cluster.token), 5_000),
      /not found/,
      "nothing of the app was recorded",
    );
  });
});
