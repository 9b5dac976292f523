// Starts real Yard daemons (yardctl master / agent) as child processes on 127.0.0.1 with
// temporary data dirs and free ports, and cleans up everything it started: daemons by pid,
// and task processes by their working dir under the cluster's temp dir.
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Metadata } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import {
  type AgentState,
  type FrameworkState,
  OperatorServiceClient,
  type TaskRecord,
} from "../../proto/gen/yard/v1/operator.js";
import { operatorCredentials, tlsEnv } from "../tls-fixture.js";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const YARDCTL = join(REPO_ROOT, "dist/cli/yardctl.js");

export interface DaemonProcess {
  child: ChildProcess;
  dataDir: string;
  output: string[];
}

export interface AgentSpec {
  cpus?: number;
  mem?: number;
  ports?: string;
  attributes?: string[];
  extraArgs?: string[];
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${lastError}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function traversableTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o711);
  return dir;
}

export class TestCluster {
  // Tasks run as an unprivileged user: like an operator's data dir, the cluster's root must let
  // them pass through to their sandbox by its absolute path (o+x), though not list it.
  readonly root = traversableTempDir("yard-cluster-");
  readonly token = "test-token-" + Math.random().toString(36).slice(2);
  master?: DaemonProcess;
  masterPort = 0;
  readonly agents: (DaemonProcess | undefined)[] = [];
  private readonly agentSpecs: AgentSpec[] = [];
  private client?: OperatorServiceClient;

  constructor(private readonly masterArgs: string[] = []) {}

  get masterAddress(): string {
    return `127.0.0.1:${this.masterPort}`;
  }

  metadata(): Metadata {
    return authMetadata(this.token);
  }

  private spawnDaemon(args: string[], dataDir: string): DaemonProcess {
    const child = spawn(process.execPath, [YARDCTL, ...args], {
      // The token goes in the environment, never on a command line (ps shows those to every user).
      env: {
        ...process.env,
        ...tlsEnv(),
        YARD_LOG_LEVEL: process.env.YARD_LOG_LEVEL ?? "info",
        YARD_HOME: dataDir,
        YARD_TOKEN: this.token,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const output: string[] = [];
    const keep = (b: Buffer) => {
      output.push(b.toString());
      if (output.length > 500) output.splice(0, 100);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    return { child, dataDir, output };
  }

  /** Starts (or restarts) the master; `extraArgs` apply to this start only. */
  async startMaster(extraArgs: string[] = []): Promise<void> {
    const dataDir = join(this.root, "master-home");
    // yardctl keeps each daemon's data in its own folder under the data dir.
    const discovery = join(dataDir, "master", "master.json");
    rmSync(discovery, { force: true });
    // The first start picks a free port; restarts reuse it so agents and frameworks find it again.
    const port = String(this.masterPort);
    this.master = this.spawnDaemon(
      ["master", "--data-dir", dataDir, "--port", port, "--http-port", "0", ...this.masterArgs, ...extraArgs],
      dataDir,
    );
    const m = this.master;
    const info = await waitFor(
      "the master to listen",
      () => {
        if (m.child.exitCode !== null) throw new Error(`master exited: ${m.output.join("")}`);
        return existsSync(discovery) && JSON.parse(readFileSync(discovery, "utf8"));
      },
      20_000,
    );
    this.masterPort = info.grpcPort;
    this.client?.close();
    this.client = new OperatorServiceClient(this.masterAddress, operatorCredentials(), CHANNEL_OPTIONS);
  }

  async startAgent(spec: AgentSpec = {}, index = this.agents.length): Promise<number> {
    this.agentSpecs[index] = spec;
    const dataDir = join(this.root, `agent-${index}`);
    const args = [
      "agent",
      "--master",
      this.masterAddress,
      "--data-dir",
      dataDir,
      "--hostname",
      `host-${index}`,
      "--cpus",
      String(spec.cpus ?? 4),
      "--mem",
      String(spec.mem ?? 4096),
      "--ports",
      spec.ports ?? `${32000 + index * 100}-${32000 + index * 100 + 99}`,
      ...(spec.attributes ?? []).flatMap((a) => ["--attribute", a]),
      ...(spec.extraArgs ?? []),
    ];
    this.agents[index] = this.spawnDaemon(args, dataDir);
    return index;
  }

  restartAgent(index: number): Promise<number> {
    return this.startAgent(this.agentSpecs[index], index);
  }

  /** Kills a daemon with a signal and waits for it to exit. */
  async kill(d: DaemonProcess | undefined, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
    const exited = new Promise((r) => d.child.once("exit", r));
    d.child.kill(signal);
    await exited;
  }

  async getAgents(): Promise<AgentState[]> {
    const c = this.client!;
    return (await unary(c.getAgents, c, {}, this.metadata(), 5_000)).agents;
  }

  async getFrameworks(): Promise<FrameworkState[]> {
    const c = this.client!;
    return (await unary(c.getFrameworks, c, {}, this.metadata(), 5_000)).frameworks;
  }

  async getTasks(includeTerminal = true): Promise<TaskRecord[]> {
    const c = this.client!;
    const req = { frameworkId: "", agentId: "", includeTerminal };
    return (await unary(c.getTasks, c, req, this.metadata(), 5_000)).tasks;
  }

  async waitForAgents(n: number, timeoutMs = 20_000): Promise<AgentState[]> {
    return waitFor(
      `${n} active agents`,
      async () => {
        const agents = (await this.getAgents()).filter((a) => a.status === "ACTIVE");
        return agents.length >= n && agents;
      },
      timeoutMs,
    );
  }

  /** Runs `yardctl` against this cluster and returns its exit code and output. */
  yardctl(
    args: string[],
    timeoutMs = 30_000,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return runYardctl(args, timeoutMs, { YARD_MASTER: this.masterAddress, YARD_TOKEN: this.token });
  }

  async stop(): Promise<void> {
    this.client?.close();
    await Promise.all(this.agents.map((a) => this.kill(a, "SIGKILL")));
    await this.kill(this.master, "SIGKILL");
    killProcessesUnder(this.root);
    rmSync(this.root, { recursive: true, force: true });
  }
}

export function runYardctl(
  args: string[],
  timeoutMs = 30_000,
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [YARDCTL, ...args], {
      env: { ...process.env, ...tlsEnv(), ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b) => (stdout += b));
    child.stderr.on("data", (b) => (stderr += b));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Kills every process whose working dir lies under `root` (task processes of test agents). */
export function killProcessesUnder(root: string): number {
  let killed = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd.startsWith(root)) {
        process.kill(Number(pid), "SIGKILL");
        killed++;
      }
    } catch {
      // gone already, or not ours to read
    }
  }
  return killed;
}

/**
 * Pids of the processes running in a task's sandbox under `root` (their working dir is the
 * sandbox, named <framework id>_<task id>: "_" is never part of an id).
 */
export function pidsOfTask(root: string, taskId: string): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd.startsWith(root) && cwd.endsWith(`_${taskId}`)) out.push(Number(pid));
    } catch {
      // gone, or not readable
    }
  }
  return out;
}
