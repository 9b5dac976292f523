// Helpers of the chaos tests on cluster identity and releases at rest: stopping a daemon
// cleanly, starting a master that is expected to refuse, and watching a task's process.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { taskName } from "../../agent/agent-task.js";
import { isSameProcessAlive } from "../../agent/proc-stat.js";
import { type DaemonProcess, runYardctl, type TestCluster, waitFor } from "../cluster/harness.js";

/** The master's own data dir under the cluster's yard home (yardctl keeps it in master/). */
export function masterDataDir(cluster: TestCluster): string {
  return join(cluster.root, "master-home", "master");
}

/** The sandbox of a process task of framework `frameworkId` on agent `index` of the cluster. */
export function sandboxOf(cluster: TestCluster, index: number, frameworkId: string, taskId: string): string {
  return join(cluster.root, `agent-${index}`, "agent", "sandboxes", taskName(frameworkId, taskId));
}

/** SIGTERM, then waits for the exit: the daemon stops as an operator would stop it. */
export async function stopGracefully(d: DaemonProcess | undefined): Promise<void> {
  if (!d || d.child.exitCode !== null || d.child.signalCode !== null) return;
  const exited = new Promise((r) => d.child.once("exit", r));
  d.child.kill("SIGTERM");
  await exited;
}

/** Runs `yardctl master` on the cluster's data dir and port to its exit (it must refuse). */
export function runRefusedMaster(
  cluster: TestCluster,
  extraArgs: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runYardctl(
    [
      "master",
      "--data-dir",
      join(cluster.root, "master-home"),
      "--port",
      String(cluster.masterPort),
      "--http-port",
      "0",
      "--token",
      cluster.token,
      ...extraArgs,
    ],
    30_000,
  );
}

/** The pid a task wrote into its sandbox's `pid` file, once it did. */
export function taskPid(sandbox: string): Promise<number> {
  return waitFor(`the task's pid file in ${sandbox}`, () => {
    const pid = Number(readFileSync(join(sandbox, "pid"), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && pid;
  });
}

/** A process is the same one still running: same pid, same start time, not a zombie. */
export function stillRunning(pid: number, startTime: number | undefined): boolean {
  return startTime !== undefined && isSameProcessAlive(pid, startTime);
}

/** Waits until the daemon printed a line matching `pattern`; returns that line. */
export function waitForOutput(
  d: DaemonProcess,
  pattern: RegExp,
  what: string,
  timeoutMs = 20_000,
): Promise<string> {
  return waitFor(
    what,
    () =>
      d.output
        .join("")
        .split("\n")
        .find((l) => pattern.test(l)),
    timeoutMs,
  );
}
