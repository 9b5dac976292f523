// End to end with real processes: a master, three agents and the service framework, each
// started as `yardctl ...`; a `web` app of three tiny HTTP servers that answer their version
// on PORT0. Rollouts, a failed rollout that rolls back, a framework killed mid-rollout and
// an agent killed under the app. Slow suite (about 40 s). Staging through the distributor is
// covered by service-staging.test.ts.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { authMetadata } from "../../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../../common/grpc.js";
import { isTerminal } from "../../../common/task-states.js";
import { type AppStatus, DeployServiceClient } from "../../../proto/gen/yard/v1/deploy.js";
import { TestCluster, waitFor, YARDCTL } from "../../cluster/harness.js";
import { operatorCredentials, tlsEnv } from "../../tls-fixture.js";

const SERVER = `const v=process.env.VERSION;require('http').createServer((q,s)=>{s.statusCode=process.env.BROKEN?503:200;s.end(v)}).listen(process.env.PORT0,'127.0.0.1')`;

function spec(version: string, extra: { broken?: boolean; minHealthy?: number } = {}): string {
  const env: Record<string, string> = { VERSION: version };
  if (extra.broken) env.BROKEN = "1";
  return [
    "name: web",
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(SERVER)}`)}`,
    `env: ${JSON.stringify(env)}`,
    "instances: 3",
    "resources: { cpus: 0.1, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    // The killed agent's instances are replaced soon after it is unreachable.
    "unreachable: { replace_after: 1s }",
    "rollout:",
    "  steps: [1, 100%]",
    "  max_surge: 1",
    "  max_unavailable: 1",
    `  min_healthy_time: ${extra.minHealthy ?? 1}`,
    "  progress_deadline: 10",
    "  max_failures: 3",
    "  auto_rollback: true",
    "",
  ].join("\n");
}

function get(port: number): Promise<{ code: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", timeout: 1000, agent: false }, (res) => {
      let body = "";
      res.on("data", (b) => (body += b));
      res.on("end", () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
  });
}

const cluster = new TestCluster(["--agent-timeout", "3"]);
let service: ChildProcess | undefined;
let serviceOutput: string[] = [];
let client: DeployServiceClient | undefined;
const serviceHome = path.join(cluster.root, "service-home");

async function startService(): Promise<void> {
  serviceOutput = [];
  service = spawn(
    process.execPath,
    [
      YARDCTL,
      "service",
      "--master",
      cluster.masterAddress,
      "--data-dir",
      serviceHome,
      "--token",
      cluster.token,
    ],
    { env: { ...process.env, ...tlsEnv(), YARD_HOME: serviceHome }, stdio: ["ignore", "pipe", "pipe"] },
  );
  service.stdout!.on("data", (b) => serviceOutput.push(String(b)));
  service.stderr!.on("data", (b) => serviceOutput.push(String(b)));
  const fw = await waitFor("the service framework to subscribe", async () => {
    const fws = await cluster.getFrameworks();
    return fws.find((f) => f.info?.name === "service" && f.status === "CONNECTED" && f.info.endpoint);
  });
  client?.close();
  client = new DeployServiceClient(fw.info!.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
}

async function killService(): Promise<void> {
  const s = service;
  if (!s || s.exitCode !== null || s.signalCode !== null) return;
  const exited = new Promise((r) => s.once("exit", r));
  s.kill("SIGKILL");
  await exited;
}

function app(): Promise<AppStatus> {
  const c = client!;
  return unary(c.getApp, c, { app: "web" }, authMetadata(cluster.token), 5_000);
}

/** Versions answered by the app's live (not stopping) instances. */
async function answers(): Promise<string[]> {
  const s = await app();
  const live = s.tasks.filter((t) => !t.stopping);
  const bodies = await Promise.all(live.map((t) => get(t.port)));
  return bodies.map((b) => (b && b.code === 200 ? b.body : `down:${b?.code ?? "-"}`)).sort();
}

function deploy(version: string, extra: { broken?: boolean } = {}, watch = true) {
  const file = path.join(cluster.root, `web-${version}.yaml`);
  fs.writeFileSync(file, spec(version, extra));
  return cluster.yardctl(["deploy", "-f", file, ...(watch ? ["--watch"] : [])], 90_000);
}

before(async () => {
  await cluster.startMaster();
  for (let i = 0; i < 3; i++) await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(3);
  await startService();
});

after(async () => {
  client?.close();
  await killService();
  await cluster.stop();
});

describe("service framework end to end", { concurrency: false }, () => {
  test("deploy web v1: three instances answer v1; deploy --watch exits 0", async () => {
    const r = await deploy("v1");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${serviceOutput.join("")}`);
    assert.match(r.stdout, /succeeded/);
    assert.deepEqual(await answers(), ["v1", "v1", "v1"]);
  });

  test("an unchanged spec is a no-op", async () => {
    const r = await deploy("v1", {}, false);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /unchanged/);
  });

  test("v2 rolls out with never fewer than instances - max_unavailable serving", async () => {
    const running = deploy("v2");
    let min = Number.POSITIVE_INFINITY;
    let samples = 0;
    let done = false;
    void running.then(() => {
      done = true;
    });
    while (!done) {
      // Every instance the framework knows, stopping ones included: what answers is what serves.
      const s = await app();
      const ok = (await Promise.all(s.tasks.map((t) => get(t.port)))).filter((b) => b?.code === 200).length;
      min = Math.min(min, ok);
      samples++;
      await new Promise((r) => setTimeout(r, 100));
    }
    const r = await running;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(samples >= 5, `only ${samples} samples`);
    assert.ok(min >= 2, `only ${min} instance(s) served at some moment (floor 3 - 1 = 2)`);
    assert.deepEqual(await answers(), ["v2", "v2", "v2"]);
  });

  test("v3 fails its health check: the deployment rolls back, all answer v2, deploy --watch exits non-zero", async () => {
    const r = await deploy("v3", { broken: true });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(`${r.stdout}${r.stderr}`, /ROLLED_BACK/);
    const s = await app();
    assert.equal(s.deployment?.state, "ROLLED_BACK");
    assert.equal(s.revision, 2);
    // The cause is named: which instance, where, and what its health check said.
    assert.match(s.deployment?.failure ?? "", /the last: instance web\.3\.\S+ on \S+ unhealthy: /);
    await waitFor("only v2 instances", async () => {
      const a = await answers();
      return a.length === 3 && a.every((v) => v === "v2") && a;
    });
    const h = await cluster.yardctl(["rollout", "history", "web"]);
    assert.equal(h.code, 0, h.stderr);
    assert.match(h.stdout, /ROLLED_BACK/);
  });

  test("the framework killed mid-rollout and restarted completes it with the right count", async () => {
    const r = await deploy("v4", {}, false);
    assert.equal(r.code, 0, r.stderr);
    await waitFor(
      "a v4 instance to run",
      async () => (await app()).tasks.some((t) => t.revision === 4 && t.state === 3),
      20_000,
    );
    await killService();
    await startService();
    await waitFor(
      "the v4 deployment to succeed",
      async () => {
        const s = await app();
        if (s.deployment && ["FAILED", "ROLLED_BACK"].includes(s.deployment.state)) {
          throw new Error(`deployment ${s.deployment.state}: ${s.deployment.message}`);
        }
        return s.deployment?.toRevision === 4 && s.deployment.state === "SUCCEEDED";
      },
      40_000,
    );
    await waitFor("three v4 instances", async () => {
      const a = await answers();
      return a.length === 3 && a.every((v) => v === "v4") && a;
    });
    // The master agrees: exactly three live tasks of the framework, none twice.
    await waitFor("three live tasks on the master", async () => {
      const live = (await cluster.getTasks(false)).filter((t) => !isTerminal(t.status?.state ?? 0));
      return live.length === 3;
    });
  });

  test("an agent killed: its instances come back on the others", async () => {
    const s = await app();
    const victim = s.tasks[0]!.agentId;
    const index = (await cluster.getAgents()).findIndex((a) => a.info?.id === victim);
    const hostname = (await cluster.getAgents())[index]?.info?.hostname ?? "";
    const agentIndex = Number(hostname.replace("host-", ""));
    await cluster.kill(cluster.agents[agentIndex], "SIGKILL");
    await waitFor(
      "three healthy instances off the lost agent",
      async () => {
        const now = await app();
        const live = now.tasks.filter((t) => !t.stopping && t.healthy);
        return live.length === 3 && live.every((t) => t.agentId !== victim) && live;
      },
      40_000,
    );
    const a = await answers();
    assert.deepEqual(a, ["v4", "v4", "v4"]);
  });
});
