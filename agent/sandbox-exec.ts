// Runs a command beside a process task: /bin/sh -c in the task's sandbox, as the task's user,
// with the task's environment, joined to the task's cgroups (so what a check costs counts
// against the task, as a command run inside a container would), in a process group of its
// own that is SIGKILLed when the timeout passes. Also the handshake both this and the task's
// wrapper use: the agent (root) moves the new process into the cgroups, which a task user
// cannot do itself, and then releases it with a line on its stdin.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { ExecResult } from "./executor.js";
import { signalGroup } from "./proc-stat.js";

/** What of the command's output is kept for messages. */
const OUTPUT_TAIL_BYTES = 4096;

/**
 * Shell lines that wait for the agent's go (and leave if the agent died first, before the
 * process was placed), then let go of the pipe.
 */
export const WAIT_FOR_AGENT = `read -r go || exit 111
[ "$go" = go ] || exit 111
exec </dev/null`;

/** Moves `pid` into each cgroup directory; throws naming the one that refused. */
export function joinCgroups(pid: number, dirs: readonly string[]): void {
  for (const d of dirs) {
    try {
      fs.writeFileSync(path.join(d, "cgroup.procs"), String(pid));
    } catch (err) {
      throw new Error(`cannot join cgroup ${d}: ${(err as Error).message}`);
    }
  }
}

/** Lets a process spawned with a piped stdin past WAIT_FOR_AGENT. */
export function releaseWrapper(child: ChildProcess): void {
  child.stdin?.on("error", () => undefined); // it may be gone already (killed meanwhile)
  child.stdin?.end("go\n");
}

export interface SandboxExec {
  command: string;
  cwd: string;
  env: Record<string, string>;
  /** The task's cgroup directories; joining is best effort (a cgroup may be gone). */
  cgroupDirs: readonly string[];
  /** The task's user, when it is not the agent's. */
  uid?: number;
  gid?: number;
  timeoutMs: number;
}

export function execInSandbox(x: SandboxExec): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "/bin/sh",
      ["-c", `${WAIT_FOR_AGENT}\nexec /bin/sh -c "$1"`, "yard-exec", x.command],
      {
        cwd: x.cwd,
        env: x.env,
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
        ...(x.uid !== undefined && x.gid !== undefined ? { uid: x.uid, gid: x.gid } : {}),
      },
    );
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
    for (const d of child.pid === undefined ? [] : x.cgroupDirs) {
      try {
        joinCgroups(child.pid!, [d]);
      } catch {
        // Best effort: the task's cgroup may be gone as it ends; the command runs anyway.
      }
    }
    releaseWrapper(child);
  });
}
