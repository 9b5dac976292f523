// The rollout benchmark: a real master process, 10 simulated agents (real protocol, see
// sim-agents.ts) and the service framework as a real process. An app of 100 instances with a
// TCP health check rolls from v1 to v2 through steps [1, 10%, 50%, 100%] with no pauses. It
// prints the total time next to the waits the spec makes unavoidable (the min healthy time of
// each step); Yard's own orchestration overhead is the difference.
//
//   node dist/bench/rollout/run.js [--instances 100] [--agents 10] [--min-healthy 5] [--interval 0.5]
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, insecureChannel, unary } from "../../common/grpc.js";
import { type AppStatus, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";

const here = dirname(fileURLToPath(import.meta.url));
const yardctl = resolve(here, "../../cli/yardctl.js");
const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "100" },
    agents: { type: "string", default: "10" },
    "min-healthy": { type: "string", default: "5" },
    interval: { type: "string", default: "0.5" },
  },
});
const INSTANCES = Number(values.instances);
const AGENTS = Number(values.agents);
const MIN_HEALTHY = Number(values["min-healthy"]);
const INTERVAL = Number(values.interval);
const STEPS = ["1", "10%", "50%", "100%"];

const root = mkdtempSync(join(tmpdir(), "yard-rollout-bench-"));
const token = "bench-token";
const md = authMetadata(token);
const children: ChildProcess[] = [];

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
}
process.on("exit", cleanup);

function start(args: string[], home: string): ChildProcess {
  const c = spawn(process.execPath, args, {
    env: { ...process.env, YARD_HOME: home, YARD_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(c);
  return c;
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function spec(version: string): string {
  return [
    "name: bench",
    "command: sleep 100000",
    `env: { VERSION: ${version} }`,
    `instances: ${INSTANCES}`,
    "resources: { cpus: 0.01, mem: 1, ports: 1 }",
    `health_check: { tcp: {}, interval: ${INTERVAL}, timeout: 1, grace_period: 0, failures: 3 }`,
    "rollout:",
    `  steps: [${STEPS.join(", ")}]`,
    "  max_surge: 100%",
    "  max_unavailable: 0",
    `  min_healthy_time: ${MIN_HEALTHY}`,
    "  progress_deadline: 120",
    "",
  ].join("\n");
}

/** Applies a spec and resolves with the seconds from Apply to the deployment's SUCCEEDED. */
async function deploy(client: DeployServiceClient, version: string): Promise<number> {
  const t0 = performance.now();
  const res = await unary(
    client.apply,
    client,
    { specYaml: spec(version), fileName: "bench.yaml" },
    md,
    10_000,
  );
  const final = await new Promise<string>((resolvePromise, reject) => {
    let last = "";
    const call = client.watchApp({ app: "bench", deploymentId: res.deploymentId }, md);
    call.on("data", (s: AppStatus) => {
      if (s.deployment?.id === res.deploymentId) last = s.deployment.state;
    });
    call.on("end", () => resolvePromise(last));
    call.on("error", reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  if (final !== "SUCCEEDED") throw new Error(`deployment of ${version} ended ${final}`);
  return seconds;
}

async function main(): Promise<void> {
  console.log(
    `rollout benchmark: ${INSTANCES} instances on ${AGENTS} simulated agents, steps [${STEPS.join(", ")}], ` +
      `min healthy ${MIN_HEALTHY} s, TCP check every ${INTERVAL} s, max surge 100%, max unavailable 0`,
  );
  const mhome = join(root, "master");
  start([yardctl, "master", "--data-dir", mhome, "--port", "0", "--http-port", "0", "--token", token], mhome);
  const discovery = join(mhome, "master", "master.json");
  const info = await until(
    "the master",
    () => existsSync(discovery) && JSON.parse(readFileSync(discovery, "utf8")),
  );
  const master = `127.0.0.1:${info.grpcPort}`;

  const sims = start([join(here, "sim-agents.js"), master, String(AGENTS), token], root);
  await new Promise<void>((r) => sims.stdout!.on("data", (b) => String(b).includes("ready") && r()));

  const shome = join(root, "service");
  start(
    [
      yardctl,
      "service",
      "--master",
      master,
      "--data-dir",
      shome,
      "--token",
      token,
      "--check-host",
      "127.0.0.1",
    ],
    shome,
  );
  const operator = new OperatorServiceClient(master, insecureChannel(), CHANNEL_OPTIONS);
  const fw = await until("the service framework", async () => {
    const { frameworks } = await unary(operator.getFrameworks, operator, {}, md, 5_000);
    return frameworks.find((f) => f.info?.name === "service" && f.status === "CONNECTED" && f.info.endpoint);
  });
  operator.close();
  const client = new DeployServiceClient(fw.info!.endpoint, insecureChannel(), CHANNEL_OPTIONS);

  const first = await deploy(client, "v1");
  console.log(`v1 (first deployment, ${STEPS.length} steps): ${first.toFixed(2)} s`);
  const total = await deploy(client, "v2");
  // The first probe runs as soon as an instance reports RUNNING, so the interval adds no
  // wait of its own: what the spec makes unavoidable is the min healthy time of each step.
  const unavoidable = STEPS.length * MIN_HEALTHY;
  const overhead = total - unavoidable;
  console.log(`v1 -> v2 rollout: total ${total.toFixed(2)} s`);
  console.log(
    `unavoidable waits: ${unavoidable.toFixed(2)} s (min healthy time ${STEPS.length} steps x ${MIN_HEALTHY} s)`,
  );
  console.log(
    `Yard overhead: ${overhead.toFixed(2)} s = ${((overhead / total) * 100).toFixed(1)}% of the total (target < 10%); ` +
      `${(overhead / STEPS.length).toFixed(2)} s per step`,
  );
  client.close();
}

main()
  .then(() => {
    cleanup();
    process.exit(0);
  })
  .catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    cleanup();
    process.exit(1);
  });
