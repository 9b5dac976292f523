// The processes the distribution benchmark starts inside its hosts' namespaces. Every one is
// registered here as it starts and dropped as it exits, so that the run's cleanup (also on
// Ctrl-C) kills exactly the processes it started, by pid, and nothing else.
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { Host } from "./testbed.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const live = new Set<ChildProcess>();

/**
 * Starts `cmd` in the host's namespace. `ip netns exec` execs the command in its own place, so
 * the child's pid is the command's own: signals and /proc reach it, not a wrapper.
 */
export function spawnInHost(
  host: Host,
  cmd: string,
  args: string[],
  stdio: ("pipe" | "ignore" | "inherit" | number)[],
): ChildProcess {
  const child = spawn("ip", ["netns", "exec", host.ns, cmd, ...args], { stdio });
  live.add(child);
  child.on("exit", () => live.delete(child));
  return child;
}

/** SIGKILLs every process started here that still runs. */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }
}

/** Whether `child` has exited (a code or a signal), resolved once it has. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.on("exit", (code) => r(code)));
}

/** A node script of this directory in a host's namespace, spoken to by lines of JSON. */
export class HostProcess {
  readonly child: ChildProcess;
  private readonly waiting: ((v: Record<string, unknown>) => void)[] = [];
  private readonly queued: Record<string, unknown>[] = [];
  exited: Promise<number | null>;

  constructor(host: Host, script: string, args: string[], extraNodeArgs: string[] = []) {
    this.child = spawnInHost(
      host,
      process.execPath,
      [...extraNodeArgs, path.join(HERE, script), ...args],
      ["pipe", "pipe", "inherit"],
    );
    this.exited = exitOf(this.child);
    createInterface({ input: this.child.stdout! }).on("line", (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      const w = this.waiting.shift();
      if (w) w(msg);
      else this.queued.push(msg);
    });
  }

  next(): Promise<Record<string, unknown>> {
    const q = this.queued.shift();
    if (q) return Promise.resolve(q);
    return new Promise((resolve, reject) => {
      this.waiting.push(resolve);
      this.exited.then((code) => reject(new Error(`process exited (${code}) before answering`)));
    });
  }

  send(line: string): void {
    this.child.stdin?.write(`${line}\n`);
  }

  /** Sends `line` and resolves the answer. */
  ask(line: string): Promise<Record<string, unknown>> {
    this.send(line);
    return this.next();
  }
}

/** A node script of this directory in a host's namespace (profiled when YARD_BENCH_CPU_PROF names a dir). */
export function startProcess(host: Host, script: string, args: string[]): HostProcess {
  return new HostProcess(
    host,
    script,
    args,
    process.env.YARD_BENCH_CPU_PROF
      ? ["--cpu-prof", `--cpu-prof-dir=${process.env.YARD_BENCH_CPU_PROF}`]
      : [],
  );
}
