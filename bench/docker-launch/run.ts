// The docker launch benchmark: N containers launched one after another through Yard (a real
// master and agent as processes, this process as the framework), timed from the Accept call
// to the RUNNING update, next to the engine itself in the same run: `docker run -d` (the CLI)
// and create+start through the engine API (dockerode), with the same image, command and
// limits, in interleaved rounds of 10 per series. Prints median and p99 of each and Yard's
// overhead over the engine's median.
//
//   DOCKER_HOST=unix:///... node dist/bench/docker-launch/run.js [--tasks 50] [--image yard/busybox:test]
//     [--profile-dir DIR]   (writes a CPU profile of the agent process there)
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs, promisify } from "node:util";
import type Docker from "dockerode";
import { connectEngine, engineAddress, pingEngine } from "../../agent/docker/docker-engine.js";
import {
  type Offer,
  SchedulerDriver,
  silentLogger,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { tlsEnv, tlsOf } from "../../test/tls-fixture.js";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const yardctl = resolve(here, "../../cli/yardctl.js");
const { values } = parseArgs({
  options: {
    tasks: { type: "string", default: "50" },
    image: { type: "string", default: "yard/busybox:test" },
    "profile-dir": { type: "string" },
  },
});
const N = Number(values.tasks);
const IMAGE = values.image!;
const CMD = "sleep 600";
const CPUS = 0.05;
const MEM = 16;
const LABEL = `yard-bench-${process.pid}`;
/** Containers per series in one round of the interleaved run. */
const ROUND = 10;

const children: ChildProcess[] = [];
const root = mkdtempSync(join(tmpdir(), "yard-bench-docker-"));
const token = "bench-token";

function spawnYardctl(args: string[], nodeArgs: string[] = []): ChildProcess {
  const c = spawn(process.execPath, [...nodeArgs, yardctl, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...tlsEnv(), YARD_LOG_LEVEL: "warn" },
  });
  c.stderr!.on("data", (b: Buffer) => process.stderr.write(b));
  children.push(c);
  return c;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stats(ms: number[]): { median: number; p99: number; mean: number } {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return { median: at(0.5), p99: at(0.99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

const fmt = (x: number) => `${x.toFixed(1)} ms`;

/**
 * A running Yard: a real master and agent as processes, this process as the framework. It
 * launches one container at a time and times Accept -> STARTING and Accept -> RUNNING.
 */
class YardLauncher {
  private readonly offers: Offer[] = [];
  private readonly running = new Map<string, number>();
  private readonly starting = new Map<string, number>();
  private readonly ended = new Map<string, TaskStatus>();
  private readonly live = new Set<string>();

  private constructor(
    private readonly driver: SchedulerDriver,
    private readonly agent: ChildProcess,
  ) {
    driver.on("offers", ({ offers }: { offers: Offer[] }) => {
      this.offers.push(...offers);
    });
    driver.on("rescind", ({ offerId }: { offerId: string }) => {
      const i = this.offers.findIndex((o) => o.id === offerId);
      if (i >= 0) this.offers.splice(i, 1);
    });
    driver.on("update", ({ status }: { status: TaskStatus }) => {
      if (status.state === TaskState.TASK_RUNNING) this.running.set(status.taskId, performance.now());
      else if (status.state === TaskState.TASK_STARTING) this.starting.set(status.taskId, performance.now());
      else this.ended.set(status.taskId, status);
    });
  }

  static async start(socket: string): Promise<YardLauncher> {
    const masterHome = join(root, "master");
    spawnYardctl(["master", "--data-dir", masterHome, "--port", "0", "--http-port", "0", "--token", token]);
    const info = await waitFor("the master", () => {
      const f = join(masterHome, "master", "master.json");
      return existsSync(f) && (JSON.parse(readFileSync(f, "utf8")) as { grpcPort: number });
    });
    const master = `127.0.0.1:${info.grpcPort}`;
    const profile = values["profile-dir"];
    const agent = spawnYardctl(
      [
        "agent",
        "--master",
        master,
        "--data-dir",
        join(root, "agent"),
        "--token",
        token,
        "--cpus",
        String(Math.ceil(ROUND * CPUS) + 1),
        "--mem",
        String(ROUND * MEM + 256),
        "--executors",
        "docker",
        "--docker-socket",
        socket,
      ],
      profile ? ["--cpu-prof", "--cpu-prof-dir", profile] : [],
    );
    const driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token,
      logger: silentLogger,
      framework: { name: "docker-launch-bench", role: "*", failoverTimeoutSeconds: 30 },
    });
    const launcher = new YardLauncher(driver, agent);
    await driver.start();
    return launcher;
  }

  /** Launches one container; resolves with Accept -> STARTING and Accept -> RUNNING in ms. */
  async launch(taskId: string): Promise<{ starting: number; running: number }> {
    const offer = await waitFor("an offer", () => this.offers.shift());
    const task = taskInfo({ taskId, image: IMAGE, command: CMD, cpus: CPUS, mem: MEM, killGraceSeconds: 1 });
    const t0 = performance.now();
    await this.driver.launch(offer, [task], { refuseSeconds: 0 });
    this.live.add(taskId);
    const t1 = await waitFor(`${taskId} RUNNING`, () => {
      const f = this.ended.get(taskId);
      if (f) throw new Error(`${taskId} ended ${TaskState[f.state]}: ${f.message}`);
      return this.running.get(taskId);
    });
    // Let the next offer come: the unused resources return at once (refuseSeconds 0).
    await this.driver.revive();
    return { starting: (this.starting.get(taskId) ?? t1) - t0, running: t1 - t0 };
  }

  /** Kills every container it launched and waits until all have ended (and are removed). */
  async killAll(): Promise<void> {
    const ids = [...this.live];
    await Promise.all(ids.map((id) => this.driver.kill(id, 1)));
    await waitFor("every task to end", () => ids.every((id) => this.ended.has(id)), 60_000);
    this.live.clear();
  }

  async stop(): Promise<void> {
    await this.killAll();
    await this.driver.stop();
    const exited = new Promise((r) => this.agent.once("exit", r));
    this.agent.kill("SIGTERM");
    await exited;
  }
}

const DOCKER_RUN_ARGS = [
  "run",
  "-d",
  "--network",
  "host",
  "--init",
  "--security-opt",
  "no-new-privileges",
  "--cpus",
  String(CPUS),
  "--cpu-shares",
  String(Math.max(2, Math.round(CPUS * 1024))),
  "-m",
  `${MEM}m`,
  "--memory-swap",
  `${MEM}m`,
  "--pids-limit",
  "4096",
  "--label",
  `${LABEL}=cli`,
  "--entrypoint",
  "/bin/sh",
  IMAGE,
  "-c",
  CMD,
];

async function dockerRunOnce(socket: string): Promise<number> {
  const t0 = performance.now();
  await run("docker", DOCKER_RUN_ARGS, { env: { ...process.env, DOCKER_HOST: socket } });
  return performance.now() - t0;
}

async function apiOnce(docker: Docker): Promise<number> {
  const t0 = performance.now();
  const c = await docker.createContainer({
    Image: IMAGE,
    Entrypoint: ["/bin/sh", "-c"],
    Cmd: [CMD],
    Labels: { [LABEL]: "api" },
    HostConfig: {
      NetworkMode: "host",
      Init: true,
      SecurityOpt: ["no-new-privileges"],
      NanoCpus: Math.round(CPUS * 1e9),
      CpuShares: Math.max(2, Math.round(CPUS * 1024)),
      Memory: MEM * 1024 * 1024,
      MemorySwap: MEM * 1024 * 1024,
      PidsLimit: 4096,
    },
  });
  await c.start();
  return performance.now() - t0;
}

async function removeLabelled(docker: Docker): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

type Series = "cli" | "api" | "yard";

async function main(): Promise<void> {
  const address = engineAddress(undefined);
  const docker = connectEngine(address);
  const version = await pingEngine(docker);
  console.log(
    `docker launch benchmark: ${N} containers of ${IMAGE} per series, engine ${version} at ${address.display}`,
  );
  const yardLauncher = await YardLauncher.start(address.display);
  const times: Record<Series, number[]> = { cli: [], api: [], yard: [] };
  const toStarting: number[] = [];
  let launched = 0;
  const launchOne = async (series: Series): Promise<number> => {
    if (series === "cli") return dockerRunOnce(address.display);
    if (series === "api") return apiOnce(docker);
    const t = await yardLauncher.launch(`bench-${launched++}`);
    toStarting.push(t.starting);
    return t.running;
  };
  const cleanUp = (series: Series) => (series === "yard" ? yardLauncher.killAll() : removeLabelled(docker));

  // One warm-up launch of each series (first events stream, first container of the image).
  for (const series of ["cli", "api", "yard"] as Series[]) {
    await launchOne(series);
    await cleanUp(series);
  }
  toStarting.length = 0;
  // Interleaved rounds: each series launches ROUND containers onto an engine with none of the
  // benchmark's containers left, in an order that rotates every round, so that the engine's
  // drift over the run (its own state, the machine's load) falls on all three alike.
  const orders: Series[][] = [
    ["cli", "api", "yard"],
    ["api", "yard", "cli"],
    ["yard", "cli", "api"],
  ];
  for (let r = 0; r * ROUND < N; r++) {
    for (const series of orders[r % orders.length]!) {
      for (let k = 0; k < Math.min(ROUND, N - r * ROUND); k++) times[series].push(await launchOne(series));
      await cleanUp(series);
    }
  }
  await yardLauncher.stop();

  const rows: [string, number[]][] = [
    ["docker run -d (CLI)", times.cli],
    ["engine API create+start", times.api],
    ["Yard Accept -> RUNNING", times.yard],
  ];
  for (const [name, t] of rows) {
    const s = stats(t);
    console.log(
      `${name.padEnd(26)} median ${fmt(s.median).padStart(9)}  p99 ${fmt(s.p99).padStart(9)}  mean ${fmt(s.mean).padStart(9)}`,
    );
  }
  const y = stats(times.yard).median;
  const c = stats(times.cli).median;
  const a = stats(times.api).median;
  console.log(
    `Yard / docker run -d median: ${(y / c).toFixed(3)}  (overhead ${(((y - c) / c) * 100).toFixed(1)}%, target < 10%)`,
  );
  console.log(`Yard / engine API median:    ${(y / a).toFixed(3)}  (overhead ${fmt(y - a)} per launch)`);
  // Accept -> STARTING is Yard alone: the master's Accept, run_task to the agent, the task's
  // first checkpoint write and the update back through the master to the framework.
  const st = stats(toStarting);
  console.log(`Yard Accept -> STARTING:     median ${fmt(st.median)}  p99 ${fmt(st.p99)}`);
}

main()
  .catch((err: unknown) => {
    console.error(`benchmark failed: ${(err as Error).stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    try {
      await removeLabelled(connectEngine(engineAddress(undefined)));
    } catch {
      // the engine is gone: nothing to remove
    }
    rmSync(root, { recursive: true, force: true });
  });
