// A one-member etcd for `yardctl up --masters N`: a child process of up with its data under
// the cluster's data dir, listening on 127.0.0.1 only, stopped with up. It is a convenience
// for a laptop; a fleet runs its masters on an existing etcd cluster (docs/ha.md).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { CliError, ExitCode } from "./errors.js";

/**
 * The local etcd takes transactions of up to this many operations (etcd's default is 128), so
 * that the registry writes every unit of the masters in one transaction, atomically (docs/ha.md).
 */
export const LOCAL_ETCD_MAX_TXN_OPS = 8192;

export interface LocalEtcd {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Whether an `etcd` binary is on PATH (Debian: the etcd-server package). */
export function etcdOnPath(): boolean {
  return spawnSync("etcd", ["--version"], { stdio: "ignore" }).status === 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
    return res.ok && ((await res.json()) as { health?: string }).health === "true";
  } catch {
    return false;
  }
}

/**
 * Starts etcd with its data in `dir` (kept across restarts of up, like the masters' data) on
 * free ports, and resolves once it answers its health check.
 */
export async function startLocalEtcd(dir: string, timeoutMs = 30_000): Promise<LocalEtcd> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const endpoint = `http://127.0.0.1:${await freePort()}`;
  const peer = `http://127.0.0.1:${await freePort()}`;
  const output: string[] = [];
  const child: ChildProcess = spawn(
    "etcd",
    [
      "--name",
      "yard-up",
      "--data-dir",
      join(dir, "member"),
      "--listen-client-urls",
      endpoint,
      "--advertise-client-urls",
      endpoint,
      "--listen-peer-urls",
      peer,
      "--initial-advertise-peer-urls",
      peer,
      "--initial-cluster",
      `yard-up=${peer}`,
      "--max-txn-ops",
      String(LOCAL_ETCD_MAX_TXN_OPS),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 100) output.splice(0, 50);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const until = Date.now() + timeoutMs;
  while (!(await answers(endpoint))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > until) {
      await stop();
      throw new CliError(
        `etcd did not start (data in ${dir}): ${output.join("").trim().split("\n").slice(-3).join(" | ")}`,
        ExitCode.FAILURE,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { endpoint, pid: child.pid!, stop };
}
