// Runs a command beside a process task: /bin/sh -c in the task's sandbox, with the task's
// environment, joined to the task's cgroups (so what a check costs counts against the task,
// as a command run inside a container would), in a process group of its own that is
// SIGKILLed when the timeout passes.
import { spawn } from "node:child_process";
import path from "node:path";
import type { ExecResult } from "./executor.js";
import { signalGroup } from "./proc-stat.js";
import { shellQuote } from "./task-env.js";

/** What of the command's output is kept for messages. */
const OUTPUT_TAIL_BYTES = 4096;

export interface SandboxExec {
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** The task's cgroup directories; joining is best effort (a cgroup may be gone). */
  cgroupDirs: readonly string[];
  timeoutMs: number;
}

export function execInSandbox(x: SandboxExec): Promise<ExecResult> {
  const joins = x.cgroupDirs
    .map((d) => `echo $$ > ${shellQuote(path.join(d, "cgroup.procs"))} 2>/dev/null;`)
    .join(" ");
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", `${joins} exec /bin/sh -c "$1"`, "yard-exec", x.command], {
      cwd: x.cwd,
      env: x.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const keep = (b: Buffer) => {
      output = (output + b.toString()).slice(-OUTPUT_TAIL_BYTES);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid) signalGroup(child.pid, "SIGKILL");
    }, x.timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      // Whatever the command left running in its group goes with it.
      if (child.pid) signalGroup(child.pid, "SIGKILL");
      resolve({ exitCode: timedOut ? undefined : (code ?? undefined), timedOut, output });
    });
  });
}
