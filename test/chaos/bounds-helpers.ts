// The service framework as a real process beside a TestCluster, with its log kept line by
// line so that a test can count what it did (launch refusals, backoff steps).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { type TestCluster, waitFor, YARDCTL } from "../cluster/harness.js";
import { tlsEnv } from "../tls-fixture.js";

export interface ServiceProcess {
  child: ChildProcess;
  /** Every line it wrote to stderr, in order. */
  lines: string[];
  endpoint: string;
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number;
  stop(): Promise<void>;
}

export async function startServiceProcess(cluster: TestCluster): Promise<ServiceProcess> {
  const home = path.join(cluster.root, "service-home");
  const child = spawn(
    process.execPath,
    [YARDCTL, "service", "--master", cluster.masterAddress, "--data-dir", home, "--token", cluster.token],
    {
      // JSON records whatever the environment says: the tests read their fields.
      env: { ...process.env, ...tlsEnv(), YARD_HOME: home, YARD_LOG_LEVEL: "info", YARD_LOG_FORMAT: "json" },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const lines: string[] = [];
  let partial = "";
  child.stderr!.on("data", (b: Buffer) => {
    const parts = (partial + b.toString()).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
    if (lines.length > 20_000) lines.splice(0, 10_000);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
  };
  try {
    const fw = await waitFor("the service framework to subscribe", async () => {
      if (child.exitCode !== null) throw new Error(`the service framework exited: ${lines.join("\n")}`);
      return (await cluster.getFrameworks()).find(
        (f) => f.info?.name === "service" && f.status === "CONNECTED" && f.info.endpoint,
      );
    });
    return {
      child,
      lines,
      endpoint: fw.info!.endpoint,
      rssBytes: () => {
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
        return Number(m?.[1] ?? 0) * 1024;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
