// Proof against a real Prometheus (Debian's `prometheus`): it scrapes a real master (bearer
// token from a credentials_file, as docs/metrics.md says), an agent and the service framework
// (HTTPS, client certificate of the cluster CA) every second, while the service framework
// deploys a small app; the test then asks Prometheus's HTTP API until the latency histograms,
// the per-agent series and the rollout series have samples. Nothing waits a fixed time.
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { clusterDispatcher } from "../../common/cluster-fetch.js";
import { freePort } from "../etcd-fixture.js";
import { ServiceFrameworkProcess } from "../chaos/service-process.js";
import { tlsEnv, tlsMaterial, testTlsDir } from "../tls-fixture.js";
import { TestCluster, waitFor, YARDCTL } from "./harness.js";

const cluster = new TestCluster();
const service = new ServiceFrameworkProcess(cluster);
let prometheus: ChildProcess | undefined;
let batch: ChildProcess | undefined;
let promUrl = "";
let agentMetricsPort = 0;
const promOutput: string[] = [];

/**
 * Off CI a machine without Prometheus skips these tests, saying why; on CI (.ci/run installs
 * it) a missing binary fails them instead of passing unseen.
 */
function skipWithoutPrometheus(): string | false {
  if (hasPrometheus() || process.env.CI === "true") return false;
  return "prometheus is not installed (apt-get install -y prometheus)";
}

function hasPrometheus(): boolean {
  try {
    execFileSync("prometheus", ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const PLAIN = [
  "name: plain",
  "command: sleep 600",
  "instances: 2",
  "resources: { cpus: 0.1, mem: 32 }",
  "rollout: { min_healthy_time: 1 }",
  "",
].join("\n");

/** The value of an instant query's first sample, or undefined while it has none. */
async function query(expr: string): Promise<number | undefined> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; data?: { result: { value: [number, string] }[] } };
  assert.equal(body.status, "success", `query ${expr}: ${JSON.stringify(body)}`);
  const first = body.data?.result[0];
  return first ? Number(first.value[1]) : undefined;
}

/** Waits until `expr` has a sample for which `ok` holds; returns it. */
function until(expr: string, ok: (v: number) => boolean = (v) => v > 0): Promise<number> {
  return waitFor(
    `Prometheus to have ${expr}`,
    async () => {
      const v = await query(expr);
      return v !== undefined && ok(v) ? { v } : undefined;
    },
    90_000,
    250,
  ).then((r) => r.v);
}

before(async () => {
  if (skipWithoutPrometheus()) return;
  await cluster.startMaster();
  const info = JSON.parse(readFileSync(join(cluster.root, "master-home", "master", "master.json"), "utf8"));
  agentMetricsPort = await freePort();
  await cluster.startAgent({ extraArgs: ["--metrics-listen", `127.0.0.1:${agentMetricsPort}`] });
  await cluster.waitForAgents(1);
  const serviceMetricsPort = await freePort();
  await service.start({ args: ["--metrics-listen", `127.0.0.1:${serviceMetricsPort}`] });
  const batchMetricsPort = await freePort();
  const batchHome = join(cluster.root, "batch-home");
  batch = spawn(
    process.execPath,
    [
      YARDCTL,
      "batch",
      "--master",
      cluster.masterAddress,
      "--data-dir",
      batchHome,
      "--metrics-listen",
      `127.0.0.1:${batchMetricsPort}`,
    ],
    {
      env: {
        ...process.env,
        ...tlsEnv(),
        YARD_HOME: batchHome,
        YARD_TOKEN: cluster.token,
        YARD_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "inherit"],
    },
  );
  await waitFor("the batch framework", async () =>
    (await cluster.getFrameworks()).find((f) => f.info?.name === "batch" && f.status === "CONNECTED"),
  );

  const dir = join(cluster.root, "prometheus");
  mkdirSync(join(dir, "data"), { recursive: true });
  const tls = testTlsDir();
  tlsMaterial("prometheus", "operator", ["viewer"]);
  writeFileSync(join(dir, "token"), cluster.token, { mode: 0o600 });
  const clientTls = [
    "    tls_config:",
    `      ca_file: ${join(tls, "ca.crt")}`,
    `      cert_file: ${join(tls, "prometheus.crt")}`,
    `      key_file: ${join(tls, "prometheus.key")}`,
  ];
  writeFileSync(
    join(dir, "prometheus.yml"),
    [
      "global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }",
      "scrape_configs:",
      "  - job_name: yard-master",
      "    scheme: https",
      "    authorization:",
      `      credentials_file: ${join(dir, "token")}`,
      "    tls_config:",
      `      ca_file: ${join(tls, "ca.crt")}`,
      `    static_configs: [{ targets: ["127.0.0.1:${info.httpPort}"] }]`,
      "  - job_name: yard-agent",
      "    scheme: https",
      ...clientTls,
      `    static_configs: [{ targets: ["127.0.0.1:${agentMetricsPort}"] }]`,
      "  - job_name: yard-service",
      "    scheme: https",
      ...clientTls,
      `    static_configs: [{ targets: ["127.0.0.1:${serviceMetricsPort}"] }]`,
      "  - job_name: yard-batch",
      "    scheme: https",
      ...clientTls,
      `    static_configs: [{ targets: ["127.0.0.1:${batchMetricsPort}"] }]`,
      "",
    ].join("\n"),
  );
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  prometheus = spawn(
    "prometheus",
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (b: Buffer) => {
    promOutput.push(String(b));
    if (promOutput.length > 200) promOutput.splice(0, 50);
  };
  prometheus.stdout!.on("data", keep);
  prometheus.stderr!.on("data", keep);
  await waitFor(
    "Prometheus to be ready",
    async () => {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited: ${promOutput.join("")}`);
      return (await fetch(`${promUrl}/-/ready`).catch(() => undefined))?.ok;
    },
    60_000,
  );
});

after(async () => {
  if (prometheus?.pid && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once("exit", r));
    prometheus.kill("SIGTERM");
    await exited;
  }
  if (batch && batch.exitCode === null) {
    const exited = new Promise((r) => batch!.once("exit", r));
    batch.kill("SIGTERM");
    await exited;
  }
  await service.stop();
  await cluster.stop();
});

describe("a real Prometheus scrapes the master, an agent, the service and the batch framework", {
  concurrency: false,
  timeout: 240_000,
}, () => {
  test("the agent's /metrics refuses a client without a cluster certificate", {
    skip: skipWithoutPrometheus(),
  }, async () => {
    const dispatcher = await clusterDispatcher({ ca: tlsMaterial("admin").ca });
    const url = `https://127.0.0.1:${agentMetricsPort}`;
    const denied = await fetch(`${url}/metrics`, { dispatcher } as RequestInit);
    assert.equal(denied.status, 401);
    assert.doesNotMatch(await denied.text(), /yard_agent/);
    assert.equal((await fetch(`${url}/healthz`, { dispatcher } as RequestInit)).status, 200);
  });

  test("every target is up, and a deployment's work shows in the series", {
    skip: skipWithoutPrometheus(),
  }, async () => {
    for (const job of ["yard-master", "yard-agent", "yard-service", "yard-batch"])
      await until(`up{job="${job}"}`, (v) => v === 1);
    const file = join(cluster.root, "plain.yaml");
    writeFileSync(file, PLAIN);
    const r = await cluster.yardctl(["deploy", "-f", file, "--watch"], 120_000);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${service.output.join("")}`);

    // The master: per-agent gauges, collected at scrape time.
    assert.equal(
      await until('yard_agent_resource_capacity{job="yard-master",hostname="host-0",resource="cpus"}'),
      4,
    );
    // Two instances of cpus 0.1 (sums of floats: compared to the cent).
    await until(
      'yard_agent_resource_allocated{job="yard-master",hostname="host-0",resource="cpus"}',
      (v) => Math.abs(v - 0.2) < 1e-9,
    );
    await until('yard_framework_dominant_share{job="yard-master",framework_name="service"}');
    // The master: histograms fed by the deployment.
    await until('yard_allocation_cycle_duration_seconds_count{job="yard-master",kind="full"}');
    await until('yard_offer_accept_latency_seconds_count{job="yard-master"}', (v) => v >= 1);
    await until('yard_task_accept_to_running_seconds_count{job="yard-master"}', (v) => v >= 2);
    await until('yard_status_update_delivery_seconds_count{job="yard-master"}', (v) => v >= 2);
    await until('yard_task_placements_total{job="yard-master"}', (v) => v >= 2);

    // The agent.
    assert.equal(await until('yard_agent_resource_total{job="yard-agent",resource="cpus"}'), 4);
    await until('yard_agent_tasks{job="yard-agent",state="RUNNING"}', (v) => v === 2);
    await until('yard_agent_task_launch_seconds_count{job="yard-agent"}', (v) => v >= 2);
    await until('yard_agent_task_launches_total{job="yard-agent"}', (v) => v >= 2);

    // The service framework: the SDK's series and its own.
    await until('yard_framework_offer_decision_seconds_count{job="yard-service",outcome="accepted"}');
    await until('yard_framework_status_updates_total{job="yard-service",state="RUNNING"}', (v) => v >= 2);
    await until('yard_service_deployments{job="yard-service",state="SUCCEEDED"}', (v) => v === 1);
    await until('sum(yard_service_instances{job="yard-service",app="plain"})', (v) => v === 2);
    await until('yard_service_rollout_step_seconds_count{job="yard-service",outcome="SUCCEEDED"}');

    // The batch framework: the SDK's series, fed by one job.
    const run = await cluster.yardctl(["run", "--", "echo", "hi"], 60_000);
    assert.equal(run.code, 0, run.stderr);
    await until('yard_framework_offers_received_total{job="yard-batch"}', (v) => v >= 1);
    await until('yard_framework_status_updates_total{job="yard-batch",state="FINISHED"}', (v) => v >= 1);
  });
});
