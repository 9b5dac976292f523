// The masters of `yardctl up --masters N`: each a `yardctl master --etcd …` child process
// with its own data dir and ports, so that one can be killed (kill -9 PID) to watch a standby
// take over while the agent and the frameworks in up follow the new leader.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CliError, ExitCode } from "./errors.js";
import { assertPortFree } from "./lifecycle.js";

const YARDCTL = fileURLToPath(new URL("./yardctl.js", import.meta.url));

export interface UpMaster {
  readonly name: string;
  readonly pid: number;
  /** host:port of its gRPC API. */
  readonly address: string;
  readonly httpAddress: string;
  readonly dataDir: string;
  readonly child: ChildProcess;
  /** SIGTERM, then wait for the exit (at once if it already exited). */
  stop(): Promise<void>;
}

export interface UpMastersInit {
  count: number;
  /** The cluster's data dir: master i keeps its data in <home>/masters/master-<i>. */
  home: string;
  host: string;
  /** Master i listens on port + 2i and httpPort + 2i; 0 = free ports. */
  port: number;
  httpPort: number;
  etcd: string;
  etcdPrefix?: string;
  /** The etcd's --max-txn-ops, when up started it with more than etcd's default. */
  etcdMaxTxnOps?: number;
  /** The TLS directory every master reads master.crt/.key from; undefined = --insecure. */
  tlsDir?: string;
  token: string;
  /** Extra environment (log level). */
  env?: Record<string, string>;
}

/** Starts `count` masters and resolves once each listens (electing a leader is theirs). */
export async function startUpMasters(init: UpMastersInit, timeoutMs = 30_000): Promise<UpMaster[]> {
  const ports = Array.from({ length: init.count }, (_, i) => ({
    port: init.port === 0 ? 0 : init.port + 2 * i,
    httpPort: init.httpPort === 0 ? 0 : init.httpPort + 2 * i,
  }));
  for (const p of ports) {
    await assertPortFree(init.host, p.port, "--port");
    await assertPortFree(init.host, p.httpPort, "--http-port");
  }
  const masters: UpMaster[] = [];
  try {
    for (let i = 0; i < init.count; i++) masters.push(await startOne(init, i, ports[i]!, timeoutMs));
  } catch (err) {
    await Promise.all(masters.map((m) => m.stop()));
    throw err;
  }
  return masters;
}

async function startOne(
  init: UpMastersInit,
  i: number,
  ports: { port: number; httpPort: number },
  timeoutMs: number,
): Promise<UpMaster> {
  const name = `master-${i + 1}`;
  const dataDir = join(init.home, "masters", name);
  // yardctl master keeps its files in <data dir>/master; the discovery file says where it listens.
  const discovery = join(dataDir, "master", "master.json");
  rmSync(discovery, { force: true });
  const args = [
    YARDCTL,
    "master",
    "--data-dir",
    dataDir,
    "--host",
    init.host,
    "--port",
    String(ports.port),
    "--http-port",
    String(ports.httpPort),
    "--etcd",
    init.etcd,
    "--master-id",
    name,
    ...(init.etcdPrefix ? ["--etcd-prefix", init.etcdPrefix] : []),
    ...(init.etcdMaxTxnOps ? ["--etcd-max-txn-ops", String(init.etcdMaxTxnOps)] : []),
    ...(init.tlsDir ? ["--tls-dir", init.tlsDir] : ["--insecure"]),
  ];
  // The token goes in the environment, never on a command line (ps shows those to every user).
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...init.env, YARD_TOKEN: init.token },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  const until = Date.now() + timeoutMs;
  while (!existsSync(discovery)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new CliError(
        `${name} exited while starting (${child.signalCode ?? `exit ${child.exitCode}`})`,
        ExitCode.FAILURE,
      );
    }
    if (Date.now() > until) {
      await stop();
      throw new CliError(`${name} did not listen within ${timeoutMs / 1000} s`, ExitCode.FAILURE);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const { grpcPort, httpPort } = JSON.parse(readFileSync(discovery, "utf8")) as {
    grpcPort: number;
    httpPort: number;
  };
  return {
    name,
    pid: child.pid!,
    address: `${init.host}:${grpcPort}`,
    httpAddress: `${init.host}:${httpPort}`,
    dataDir,
    child,
    stop,
  };
}
