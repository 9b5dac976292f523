// Starts `yardctl up` as a child process and waits for it to say it is ready.
import { type ChildProcess, spawn } from "node:child_process";
import { YARDCTL } from "../cluster/harness.js";

export interface RunningUp {
  child: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  exit: Promise<number | null>;
  /** What it printed on stdout up to "Press Ctrl-C" (the exports of the cluster). */
  out: string;
}

/** Spawns `yardctl up ARGS` with `env`; rejects with its output if it exits or is not ready by `timeoutMs`. */
export async function startYardctlUp(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<RunningUp> {
  const child = spawn(process.execPath, [YARDCTL, "up", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let out = "";
  let err = "";
  child.stderr!.on("data", (d) => {
    err += d;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`yardctl up did not come up: ${out}${err}`)), timeoutMs);
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("Press Ctrl-C")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => reject(new Error(`yardctl up exited with ${code}: ${err}`)));
  });
  return { child, exit, out };
}
