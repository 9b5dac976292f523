// A throwaway etcd member for tests: its own data dir and free ports on 127.0.0.1, started
// and stopped by its pid. Tests of high availability run against it, never against a mock.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A port that was free a moment ago (the kernel picked it; the listener is closed again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface EtcdMember {
  /** http://127.0.0.1:PORT, what clients dial. */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** SIGKILL (default) or SIGTERM, and wait for the exit. The data dir is kept. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the member again on the same ports and data dir; resolves when it answers. */
  restart(): Promise<void>;
  /** Stops the member and deletes its data dir. */
  destroy(): Promise<void>;
  /** What the member printed (the last lines), for a failing test's message. */
  output(): string;
}

async function healthy(
  endpoint: string,
  deadline: number,
  child: ChildProcess,
  out: string[],
): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`etcd exited before answering: ${out.join("").slice(-2000)}`);
    }
    try {
      const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok && ((await res.json()) as { health?: string }).health === "true") return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`etcd did not answer at ${endpoint}: ${out.join("").slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts a one-member etcd cluster; `extraArgs` go to etcd as they are. */
export async function startEtcd(extraArgs: string[] = []): Promise<EtcdMember> {
  const dataDir = mkdtempSync(join(tmpdir(), "yard-etcd-"));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const endpoint = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  let child: ChildProcess | undefined;
  let out: string[] = [];
  const launch = async () => {
    out = [];
    const c = spawn(
      "etcd",
      [
        "--name",
        "default",
        "--data-dir",
        join(dataDir, "member"),
        "--listen-client-urls",
        endpoint,
        "--advertise-client-urls",
        endpoint,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        `default=${peer}`,
        ...extraArgs,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (b: Buffer) => {
      out.push(b.toString());
      if (out.length > 200) out.splice(0, 50);
    };
    c.stdout!.on("data", keep);
    c.stderr!.on("data", keep);
    child = c;
    await healthy(endpoint, Date.now() + 30_000, c, out);
  };
  const stop = async (signal: NodeJS.Signals = "SIGKILL") => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once("exit", r));
    c.kill(signal);
    await exited;
  };
  await launch();
  return {
    endpoint,
    dataDir,
    get pid() {
      return child?.pid;
    },
    stop,
    restart: async () => {
      await stop();
      await launch();
    },
    destroy: async () => {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    output: () => out.join(""),
  };
}
