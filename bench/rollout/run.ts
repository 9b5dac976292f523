// The rollout benchmark: a real master process, real agents (AgentDaemon in a fleet process,
// with an executor whose task is a TCP listener on its PORT0, so health checks and a client
// see it serve) and the service framework as a real process. An app of 100 instances with a
// TCP health check rolls through steps [1, 10%, 50%, 100%] with no pauses, twice:
//
// - without faults: the total time next to the waits the spec makes unavoidable (the min
//   healthy time of each step); Yard's own orchestration overhead is the difference;
// - with a failover: the service framework is killed (SIGKILL) part-way through the rollout and
//   started again; the rollout's extra time over the run without faults.
//
// A poller dials every instance during both rollouts and reports the fewest serving, next to
// what the spec promises (instances − max_unavailable).
//
//   node dist/bench/rollout/run.js [--instances 100] [--agents 10] [--min-healthy 5] [--interval 0.5]
//                                  [--kill-at 0.4] [--no-failover] [--timeout 600]
//                                  [--steps 1,10%,50%,100%] [--max-surge 100%] [--max-unavailable 0]
//                                  [--release-mib 0] [--rate-mbit 100] [--fleets 1]
//
// The issue's reproduction of the framework-restart defect, for instance, is
// --instances 6 --steps 100% --max-surge 1 --max-unavailable 0.
//
// With --release-mib N the run is the staging benchmark instead (release-run.ts): the app
// names a release of N MiB, each agent's BitTorrent links capped at --rate-mbit, and two
// rollouts compare wave prefetch (rollout.stage: next) with staging every agent before step 1
// (stage: all), against the target: waits + the first step's staging + 10 %.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { type AppStatus, type Deployment, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import { stepTargets } from "../../frameworks/service/rollout-plan.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { type FleetProcess, spawnFleet, stopFleet } from "../fleet/spawn-fleet.js";
import { stagingBenchmark } from "./release-run.js";
import { type ServingFigures, ServingPoller } from "./serving-poller.js";
import { operatorCredentials, testTlsDir, tlsEnv } from "../../test/tls-fixture.js";

const here = dirname(fileURLToPath(import.meta.url));
const yardctl = resolve(here, "../../cli/yardctl.js");
const { values } = parseArgs({
  options: {
    instances: { type: "string", default: "100" },
    agents: { type: "string", default: "10" },
    "min-healthy": { type: "string", default: "5" },
    interval: { type: "string", default: "0.5" },
    /** When the framework is killed, as a fraction of the fault-free rollout's time. */
    "kill-at": { type: "string", default: "0.4" },
    "no-failover": { type: "boolean", default: false },
    timeout: { type: "string", default: "600" },
    steps: { type: "string", default: "1,10%,50%,100%" },
    "max-surge": { type: "string", default: "100%" },
    /** A count of instances (the availability target is instances minus it). */
    "max-unavailable": { type: "string", default: "0" },
    /** > 0: the staging benchmark, with a release of this many MiB. */
    "release-mib": { type: "string", default: "0" },
    /** Each agent's (and the master seed's) BitTorrent cap in the staging benchmark. */
    "rate-mbit": { type: "string", default: "100" },
    /** Fleet processes the agents are split over. */
    fleets: { type: "string", default: "1" },
  },
});
const RELEASE_MIB = Number(values["release-mib"]);
const FLEETS = Math.max(1, Number(values.fleets));
const RATE = (Number(values["rate-mbit"]) * 1e6) / 8;
const INSTANCES = Number(values.instances);
const AGENTS = Number(values.agents);
const MIN_HEALTHY = Number(values["min-healthy"]);
const INTERVAL = Number(values.interval);
const KILL_AT = Number(values["kill-at"]);
const STEPS = values.steps!.split(",").map((s) => s.trim());
const MAX_SURGE = values["max-surge"]!;
const MAX_UNAVAILABLE = Number(values["max-unavailable"]);
/** Steps that add instances: a step that rounds to its predecessor's count waits for nothing. */
const DISTINCT_STEPS = new Set(
  stepTargets(
    STEPS.map((s) => (s.endsWith("%") ? { percent: Number(s.slice(0, -1)) } : { count: Number(s) })),
    INSTANCES,
  ),
).size;
/** Ports per agent: all agents share 127.0.0.1, so their ranges must not overlap. */
const PORTS_PER_AGENT = Math.max(300, Math.ceil((4 * INSTANCES) / AGENTS));
// Below the usual ephemeral range (32768+), where outgoing connections take ports.
const FIRST_PORT = 20_000;

const root = mkdtempSync(join(tmpdir(), "yard-rollout-bench-"));
const token = "bench-token";
const md = authMetadata(token);
const children: ChildProcess[] = [];
let fleets: FleetProcess[] = [];

function cleanup(): void {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  rmSync(root, { recursive: true, force: true });
}
process.on("exit", cleanup);

function start(args: string[], home: string, env: Record<string, string> = {}): ChildProcess {
  const c = spawn(process.execPath, args, {
    env: { ...process.env, ...tlsEnv(), YARD_HOME: home, YARD_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "inherit"],
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

function spec(version: string, extra: string[] = [], rollout: string[] = []): string {
  return [
    "name: bench",
    ...extra,
    "command: serve",
    `env: { VERSION: ${version} }`,
    `instances: ${INSTANCES}`,
    "resources: { cpus: 0.01, mem: 1, ports: 1 }",
    `health_check: { tcp: {}, interval: ${INTERVAL}, timeout: 1, grace_period: 0, failures: 3 }`,
    "rollout:",
    `  steps: [${STEPS.join(", ")}]`,
    `  max_surge: ${MAX_SURGE}`,
    `  max_unavailable: ${MAX_UNAVAILABLE}`,
    `  min_healthy_time: ${MIN_HEALTHY}`,
    "  progress_deadline: 120",
    ...rollout.map((l) => `  ${l}`),
    "",
  ].join("\n");
}

/** The service framework as a process of its own, on the same data dir every time. */
class ServiceProcess {
  private child?: ChildProcess;
  private readonly home = join(root, "service");

  constructor(private readonly master: string) {}

  /** Starts the framework and resolves a client of its DeployService once it has subscribed. */
  async start(operator: OperatorServiceClient, previousEndpoint = ""): Promise<DeployServiceClient> {
    this.child = start(
      [yardctl, "service", "--master", this.master, "--data-dir", this.home, "--token", token],
      this.home,
    );
    const fw = await until("the service framework", async () => {
      const { frameworks } = await unary(operator.getFrameworks, operator, {}, md, 5_000);
      return frameworks.find(
        (f) =>
          f.info?.name === "service" &&
          f.status === "CONNECTED" &&
          f.info.endpoint &&
          f.info.endpoint !== previousEndpoint,
      );
    });
    return new DeployServiceClient(fw.info!.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
  }

  /** kill -9, as a crash would. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill("SIGKILL");
    await exited;
  }
}

/** Follows a deployment to its end; rejects if the stream breaks before that. */
function watchDeployment(
  client: DeployServiceClient,
  deploymentId: string,
  onProgress?: (d: Deployment, s: AppStatus) => void,
): Promise<string> {
  return new Promise<string>((resolvePromise, reject) => {
    let last = "";
    const call = client.watchApp({ app: "bench", deploymentId }, md);
    call.on("data", (s: AppStatus) => {
      if (s.deployment?.id !== deploymentId) return;
      last = s.deployment.state;
      onProgress?.(s.deployment, s);
    });
    call.on("end", () => resolvePromise(last));
    call.on("error", reject);
  });
}

interface RolloutResult {
  seconds: number;
  serving: ServingFigures;
  /** The deployment as last seen (its waves, for the staging benchmark). */
  last?: Deployment;
  /** Seconds after Apply when each step (1-based) was first seen. */
  stepAt?: Map<number, number>;
  /** New instances first seen on an agent that no wave had staged. */
  offWave?: number;
}

/**
 * Applies a spec and resolves with the seconds from Apply to the deployment's SUCCEEDED. With
 * `failover`, the framework is killed `failover.afterSeconds` after Apply and started again,
 * and the deployment is followed through the new process.
 */
async function deploy(
  service: ServiceProcess,
  operator: OperatorServiceClient,
  client: DeployServiceClient,
  version: string,
  poller?: ServingPoller,
  failover?: { afterSeconds: number; endpoint: string },
  specYaml = spec(version),
): Promise<RolloutResult & { client: DeployServiceClient }> {
  poller?.start();
  const t0 = performance.now();
  let last: Deployment | undefined;
  const stepAt = new Map<number, number>();
  const seenTasks = new Set<string>();
  let offWave = 0;
  const res = await unary(client.apply, client, { specYaml, fileName: "bench.yaml" }, md, 10_000);
  let final: string;
  if (failover) {
    // Killed after `afterSeconds`, or once the deployment enters its last step if that comes
    // first: a run slowed by a loaded machine's stalls must not kill after the end.
    let killNow = () => {};
    const due = new Promise<void>((r) => {
      killNow = r;
    });
    const wait = failover.afterSeconds * 1000 - (performance.now() - t0);
    const timer = setTimeout(() => killNow(), Math.max(0, wait));
    const watching = watchDeployment(client, res.deploymentId, (d) => {
      if (d.steps > 0 && d.step >= d.steps && d.state === "RUNNING") killNow();
    }).catch(() => "");
    await due;
    clearTimeout(timer);
    await service.kill();
    const ended = await watching;
    if (ended === "SUCCEEDED") throw new Error("the rollout ended before the framework was killed");
    console.log(
      `  framework killed ${((performance.now() - t0) / 1000).toFixed(2)} s after Apply; restarting`,
    );
    client.close();
    client = await service.start(operator, failover.endpoint);
    console.log(`  framework back ${((performance.now() - t0) / 1000).toFixed(2)} s after Apply`);
    final = await watchDeployment(client, res.deploymentId);
  } else {
    final = await watchDeployment(client, res.deploymentId, (d, s) => {
      last = d;
      const at = (performance.now() - t0) / 1000;
      if (!stepAt.has(d.step)) stepAt.set(d.step, at);
      // New instances on an agent that no wave had staged yet fetch the release at launch.
      const staged = new Set(
        d.waves.flatMap((w) => w.fetches.filter((f) => f.state === "DONE").map((f) => f.agentId)),
      );
      for (const t of s.tasks) {
        if (t.revision !== d.toRevision || seenTasks.has(t.taskId)) continue;
        seenTasks.add(t.taskId);
        if (d.waves.length > 0 && !staged.has(t.agentId)) offWave++;
      }
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const serving = poller ? await poller.stop() : { min: Number.NaN, polls: 0, secondsBelowTarget: 0 };
  if (final !== "SUCCEEDED") throw new Error(`deployment of ${version} ended ${final || "without a state"}`);
  return { seconds, serving, client, last, stepAt, offWave };
}

async function main(): Promise<void> {
  const target = INSTANCES - MAX_UNAVAILABLE;
  console.log(
    `rollout benchmark: ${INSTANCES} instances on ${AGENTS} agents (listener executor), steps [${STEPS.join(", ")}], ` +
      `min healthy ${MIN_HEALTHY} s, TCP check every ${INTERVAL} s, max surge ${MAX_SURGE}, max unavailable ${MAX_UNAVAILABLE}`,
  );
  const mhome = join(root, "master");
  const seedLimit = RELEASE_MIB > 0 ? ["--seed-upload-limit", String(Math.round(RATE))] : [];
  start(
    [
      yardctl,
      "master",
      "--data-dir",
      mhome,
      "--port",
      "0",
      "--http-port",
      "0",
      "--token",
      token,
      ...seedLimit,
    ],
    mhome,
  );
  const discovery = join(mhome, "master", "master.json");
  const info = await until(
    "the master",
    () => existsSync(discovery) && JSON.parse(readFileSync(discovery, "utf8")),
  );
  const master = `127.0.0.1:${info.grpcPort}`;

  // --fleets N splits the agents over N processes, so that one agent's transfer does not run
  // on the event loop of another's launches (each agent of a cluster has its own host).
  const perFleet = Math.ceil(AGENTS / FLEETS);
  fleets = await Promise.all(
    Array.from({ length: FLEETS }, (_, i) =>
      spawnFleet({
        master,
        token,
        tlsDir: testTlsDir(),
        dir: join(root, "agents"),
        count: Math.min(perFleet, AGENTS - i * perFleet),
        first: i * perFleet,
        executor: "listener",
        cpus: 32,
        mem: 65536,
        disk: 100_000,
        firstPort: FIRST_PORT,
        portsPerAgent: PORTS_PER_AGENT,
        portStride: PORTS_PER_AGENT,
        zones: 3,
        ...(RELEASE_MIB > 0 ? { downloadRate: Math.round(RATE), uploadRate: Math.round(RATE) } : {}),
      }),
    ),
  );
  for (const f of fleets) children.push(f.child);

  const operator = new OperatorServiceClient(master, operatorCredentials(), CHANNEL_OPTIONS);
  const service = new ServiceProcess(master);
  let client = await service.start(operator);
  const poller = new ServingPoller(operator, md, target);
  if (RELEASE_MIB > 0) {
    await stagingBenchmark({
      master,
      root,
      token,
      mib: RELEASE_MIB,
      rateMbit: Number(values["rate-mbit"]),
      distinctSteps: DISTINCT_STEPS,
      minHealthy: MIN_HEALTHY,
      deploy: (version, release, stage) =>
        deploy(
          service,
          operator,
          client,
          version,
          poller,
          undefined,
          spec(version, [`release: ${release}`], [`stage: ${stage}`]),
        ),
    });
    client.close();
    operator.close();
    await Promise.all(fleets.map((f) => stopFleet(f)));
    return;
  }

  const first = await deploy(service, operator, client, "v1");
  console.log(`v1 (first deployment, ${STEPS.length} steps): ${first.seconds.toFixed(2)} s`);
  const plain = await deploy(service, operator, client, "v2", poller);
  const unavoidable = DISTINCT_STEPS * MIN_HEALTHY;
  const overhead = plain.seconds - unavoidable;
  // The first probe runs as soon as an instance reports RUNNING, so the interval adds no
  // wait of its own: what the spec makes unavoidable is the min healthy time of each step.
  console.log(`v1 -> v2 rollout: total ${plain.seconds.toFixed(2)} s, fewest serving ${plain.serving.min}`);

  let failover: RolloutResult | undefined;
  if (!values["no-failover"]) {
    const endpoint = (await unary(operator.getFrameworks, operator, {}, md, 5_000)).frameworks.find(
      (f) => f.info?.name === "service",
    )?.info?.endpoint;
    const afterSeconds = Math.max(1, KILL_AT * plain.seconds);
    const r = await deploy(service, operator, client, "v3", poller, {
      afterSeconds,
      endpoint: endpoint ?? "",
    });
    client = r.client;
    failover = r;
    console.log(
      `v2 -> v3 rollout, framework killed: total ${r.seconds.toFixed(2)} s, fewest serving ${r.serving.min}`,
    );
  }

  console.log("");
  console.log(
    `unavoidable waits:           ${unavoidable.toFixed(2)} s (min healthy time ${DISTINCT_STEPS} steps x ${MIN_HEALTHY} s)`,
  );
  console.log(
    `Yard overhead:               ${overhead.toFixed(2)} s = ${((overhead / plain.seconds) * 100).toFixed(1)}% of the total ` +
      `(target < 10%); ${(overhead / DISTINCT_STEPS).toFixed(2)} s per step`,
  );
  const row = (name: string, r: RolloutResult) =>
    `${name.padEnd(28)} ${`${r.seconds.toFixed(2)} s`.padStart(9)}   fewest serving ${String(r.serving.min).padStart(4)} of ${target} ` +
    `(${r.serving.polls} polls, ${r.serving.secondsBelowTarget.toFixed(1)} s below)`;
  console.log(row("rollout without faults:", plain));
  if (failover) {
    console.log(row("rollout, framework killed:", failover));
    const extra = failover.seconds - plain.seconds;
    console.log(
      `failover extra time:         ${extra.toFixed(2)} s (${((extra / plain.seconds) * 100).toFixed(1)}% over the rollout without faults)`,
    );
  }
  const held = plain.serving.min >= target && (!failover || failover.serving.min >= target);
  console.log(
    `availability (never below instances - max_unavailable = ${target}): ${held ? "held" : "NOT held"}`,
  );
  client.close();
  operator.close();
  await Promise.all(fleets.map((f) => stopFleet(f)));
}

const timeout = setTimeout(() => {
  console.error(`timed out after ${values.timeout} s`);
  cleanup();
  process.exit(1);
}, Number(values.timeout) * 1000);

main()
  .then(() => {
    clearTimeout(timeout);
    cleanup();
    process.exit(0);
  })
  .catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    cleanup();
    process.exit(1);
  });
