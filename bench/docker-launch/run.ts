// The docker launch benchmark: N containers launched one after another through Yard (a real
// master and agent as processes, this process as the framework), timed from the Accept call
// to the RUNNING update, next to the engine itself in the same run: `docker run -d` (the CLI)
// and create+start through the engine API (dockerode), with the same image, command and
// limits. Prints median and p99 of each and Yard's overhead over the engine's median.
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

const children: ChildProcess[] = [];
const root = mkdtempSync(join(tmpdir(), "yard-bench-docker-"));
const token = "bench-token";

function spawnYardctl(args: string[], nodeArgs: string[] = []): ChildProcess {
  const c = spawn(process.execPath, [...nodeArgs, yardctl, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, YARD_LOG_LEVEL: "warn" },
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

/** Yard's launches: Accept -> RUNNING, and the part of it before the STARTING update arrived. */
interface YardTimes {
  running: number[];
  starting: number[];
}

async function yardLaunches(socket: string): Promise<YardTimes> {
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
      String(Math.ceil(N * CPUS) + 1),
      "--mem",
      String(N * MEM + 256),
      "--executors",
      "docker",
      "--docker-socket",
      socket,
    ],
    profile ? ["--cpu-prof", "--cpu-prof-dir", profile] : [],
  );

  const driver = new SchedulerDriver({
    master,
    token,
    logger: silentLogger,
    framework: { name: "docker-launch-bench", role: "*", failoverTimeoutSeconds: 30 },
  });
  const offers: Offer[] = [];
  const running = new Map<string, number>();
  const starting = new Map<string, number>();
  const failed = new Map<string, TaskStatus>();
  driver.on("offers", ({ offers: o }: { offers: Offer[] }) => {
    offers.push(...o);
  });
  driver.on("rescind", ({ offerId }: { offerId: string }) => {
    const i = offers.findIndex((o) => o.id === offerId);
    if (i >= 0) offers.splice(i, 1);
  });
  driver.on("update", ({ status }: { status: TaskStatus }) => {
    if (status.state === TaskState.TASK_RUNNING) running.set(status.taskId, performance.now());
    else if (status.state === TaskState.TASK_STARTING) starting.set(status.taskId, performance.now());
    else failed.set(status.taskId, status);
  });
  await driver.start();

  // One warm-up launch (first events stream, first container of the image), not counted.
  const times: number[] = [];
  const toStarting: number[] = [];
  for (let i = -1; i < N; i++) {
    const offer = await waitFor("an offer", () => offers.shift());
    const taskId = `bench-${i < 0 ? "warm" : i}`;
    const task = taskInfo({ taskId, image: IMAGE, command: CMD, cpus: CPUS, mem: MEM, killGraceSeconds: 1 });
    const t0 = performance.now();
    await driver.launch(offer, [task], { refuseSeconds: 0 });
    const t1 = await waitFor(`${taskId} RUNNING`, () => {
      const f = failed.get(taskId);
      if (f) throw new Error(`${taskId} ended ${TaskState[f.state]}: ${f.message}`);
      return running.get(taskId);
    });
    if (i >= 0) {
      times.push(t1 - t0);
      toStarting.push((starting.get(taskId) ?? t1) - t0);
    }
    // Let the next offer come: the unused resources return at once (refuseSeconds 0).
    await driver.revive();
  }
  await Promise.all([...running.keys()].map((id) => driver.kill(id, 1)));
  await waitFor("every task to end", () => failed.size >= running.size, 60_000);
  await driver.stop();
  const exited = new Promise((r) => agent.once("exit", r));
  agent.kill("SIGTERM");
  await exited;
  return { running: times, starting: toStarting };
}

async function dockerRunLaunches(socket: string): Promise<number[]> {
  const times: number[] = [];
  const env = { ...process.env, DOCKER_HOST: socket };
  for (let i = -1; i < N; i++) {
    const t0 = performance.now();
    await run(
      "docker",
      [
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
      ],
      { env },
    );
    if (i >= 0) times.push(performance.now() - t0);
  }
  return times;
}

async function apiLaunches(docker: Docker): Promise<number[]> {
  const times: number[] = [];
  for (let i = -1; i < N; i++) {
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
    if (i >= 0) times.push(performance.now() - t0);
  }
  return times;
}

async function removeLabelled(docker: Docker): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL] } });
  await Promise.all(list.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

async function main(): Promise<void> {
  const address = engineAddress(undefined);
  const docker = connectEngine(address);
  const version = await pingEngine(docker);
  console.log(
    `docker launch benchmark: ${N} containers of ${IMAGE}, engine ${version} at ${address.display}`,
  );
  // Interleaved order would mix the engine's own state; each series runs alone, the engine's
  // first so that Yard gets no warmer engine than the baseline.
  const cli = await dockerRunLaunches(address.display);
  await removeLabelled(docker);
  const api = await apiLaunches(docker);
  await removeLabelled(docker);
  const yardTimes = await yardLaunches(address.display);
  const yard = yardTimes.running;
  const rows: [string, number[]][] = [
    ["docker run -d (CLI)", cli],
    ["engine API create+start", api],
    ["Yard Accept -> RUNNING", yard],
  ];
  for (const [name, t] of rows) {
    const s = stats(t);
    console.log(
      `${name.padEnd(26)} median ${fmt(s.median).padStart(9)}  p99 ${fmt(s.p99).padStart(9)}  mean ${fmt(s.mean).padStart(9)}`,
    );
  }
  const y = stats(yard).median;
  const c = stats(cli).median;
  const a = stats(api).median;
  console.log(
    `Yard / docker run -d median: ${(y / c).toFixed(3)}  (overhead ${(((y - c) / c) * 100).toFixed(1)}%, target < 10%)`,
  );
  console.log(`Yard / engine API median:    ${(y / a).toFixed(3)}  (overhead ${fmt(y - a)} per launch)`);
  // Accept -> STARTING is Yard alone: the master's Accept, run_task to the agent, the task's
  // first checkpoint write and the update back through the master to the framework.
  const st = stats(yardTimes.starting);
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
