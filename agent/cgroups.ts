// Per-task cgroups for the process executor. Supports cgroup v2 (one unified tree with the
// cpu and memory controllers) and v1 (separate memory, cpu and cpuacct hierarchies). Each
// task gets `yard/<agent id>/<task id>` in every hierarchy it uses. The task's wrapper script
// moves itself into the cgroups (writes its pid to each `cgroup.procs`), so the command and
// everything it forks are accounted and limited from their first instruction.
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../common/logger.js";

/** The directories of one task's cgroups; persisted in the checkpoint, hence plain data. */
export interface TaskCgroups {
  version: 1 | 2;
  /** Every directory the task must join (its `cgroup.procs` gets the wrapper's pid). */
  dirs: string[];
  memory: string;
  cpu: string;
  cpuacct: string;
}

export interface CgroupLimits {
  cpus: number;
  /** MiB; 0 = no limit. */
  mem: number;
}

export type CgroupSupport =
  | { version: 2; root: string }
  | { version: 1; memory: string; cpu: string; cpuacct: string }
  | { version: 0; reason: string };

const CPU_PERIOD_US = 100_000;
const MIB = 1024 * 1024;

/**
 * Finds a usable cgroup hierarchy under `root` (default /sys/fs/cgroup). Usable means the
 * agent can create `yard/` in it; v2 needs cpu and memory in the root's controllers.
 */
export function detectCgroups(root = "/sys/fs/cgroup"): CgroupSupport {
  const controllersFile = path.join(root, "cgroup.controllers");
  if (fs.existsSync(controllersFile)) {
    const controllers = fs.readFileSync(controllersFile, "utf8").trim().split(/\s+/);
    if (!controllers.includes("cpu") || !controllers.includes("memory")) {
      return { version: 0, reason: `cgroup v2 at ${root} lacks the cpu or memory controller` };
    }
    try {
      enableV2Controllers(root);
      fs.mkdirSync(path.join(root, "yard"), { recursive: true });
      enableV2Controllers(path.join(root, "yard"));
      return { version: 2, root };
    } catch (err) {
      return { version: 0, reason: `cgroup v2 at ${root} is not writable: ${(err as Error).message}` };
    }
  }
  const memory = path.join(root, "memory");
  const cpu = path.join(root, "cpu");
  const cpuacct = path.join(root, "cpuacct");
  if (
    !fs.existsSync(path.join(memory, "memory.limit_in_bytes")) ||
    !fs.existsSync(path.join(cpu, "cpu.shares"))
  ) {
    return { version: 0, reason: `no cgroup v2 or v1 memory+cpu hierarchies under ${root}` };
  }
  try {
    for (const dir of [memory, cpu, cpuacct]) {
      if (fs.existsSync(dir)) fs.mkdirSync(path.join(dir, "yard"), { recursive: true });
    }
  } catch (err) {
    return { version: 0, reason: `cgroup v1 under ${root} is not writable: ${(err as Error).message}` };
  }
  return {
    version: 1,
    memory,
    cpu,
    cpuacct: fs.existsSync(path.join(cpuacct, "cpuacct.usage")) ? cpuacct : cpu,
  };
}

function enableV2Controllers(dir: string): void {
  const file = path.join(dir, "cgroup.subtree_control");
  const current = fs.readFileSync(file, "utf8");
  if (/\bcpu\b/.test(current) && /\bmemory\b/.test(current)) return;
  fs.writeFileSync(file, "+cpu +memory");
}

/** Creates and removes task cgroups, reads usage and OOM kills. */
export class CgroupManager {
  constructor(
    readonly support: CgroupSupport,
    private readonly logger: Logger,
  ) {}

  get enabled(): boolean {
    return this.support.version !== 0;
  }

  /** Creates the task's cgroups and writes its limits; undefined when cgroups are off. */
  create(agentId: string, taskId: string, limits: CgroupLimits): TaskCgroups | undefined {
    const s = this.support;
    const rel = path.join("yard", agentId, taskId);
    if (s.version === 2) {
      const agentDir = path.join(s.root, "yard", agentId);
      fs.mkdirSync(agentDir, { recursive: true });
      enableV2Controllers(agentDir);
      const dir = path.join(s.root, rel);
      fs.mkdirSync(dir, { recursive: true });
      if (limits.mem > 0) {
        fs.writeFileSync(path.join(dir, "memory.max"), String(Math.floor(limits.mem * MIB)));
        writeIfPresent(path.join(dir, "memory.swap.max"), "0");
      }
      if (limits.cpus > 0) {
        fs.writeFileSync(path.join(dir, "cpu.max"), `${cpuQuota(limits.cpus)} ${CPU_PERIOD_US}`);
      }
      return { version: 2, dirs: [dir], memory: dir, cpu: dir, cpuacct: dir };
    }
    if (s.version === 1) {
      const memory = path.join(s.memory, rel);
      const cpu = path.join(s.cpu, rel);
      const cpuacct = path.join(s.cpuacct, rel);
      const dirs = [...new Set([memory, cpu, cpuacct].map((d) => realDir(d)))];
      for (const d of dirs) fs.mkdirSync(d, { recursive: true });
      if (limits.mem > 0) {
        const bytes = String(Math.floor(limits.mem * MIB));
        fs.writeFileSync(path.join(memory, "memory.limit_in_bytes"), bytes);
        // Without this the task could swap past its limit where swap accounting is on.
        writeIfPresent(path.join(memory, "memory.memsw.limit_in_bytes"), bytes);
      }
      if (limits.cpus > 0) {
        fs.writeFileSync(path.join(cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
        fs.writeFileSync(path.join(cpu, "cpu.cfs_quota_us"), String(cpuQuota(limits.cpus)));
        fs.writeFileSync(path.join(cpu, "cpu.shares"), String(Math.max(2, Math.round(limits.cpus * 1024))));
      }
      return { version: 1, dirs, memory, cpu, cpuacct };
    }
    return undefined;
  }

  /** Whether the kernel's OOM killer acted in the task's memory cgroup. */
  wasOomKilled(cg: TaskCgroups, exitCode: number | undefined): boolean {
    if (cg.version === 2) {
      return readKeyed(path.join(cg.memory, "memory.events"), "oom_kill") > 0;
    }
    if (readKeyed(path.join(cg.memory, "memory.oom_control"), "oom_kill") > 0) return true;
    // Older kernels have no oom_kill counter: a hit limit plus a SIGKILL is the OOM killer.
    const failcnt = readNumber(path.join(cg.memory, "memory.failcnt"));
    return failcnt > 0 && (exitCode === undefined || exitCode === 137);
  }

  usage(cg: TaskCgroups): { cpuSeconds: number; memBytes: number } {
    if (cg.version === 2) {
      return {
        cpuSeconds: readKeyed(path.join(cg.cpuacct, "cpu.stat"), "usage_usec") / 1e6,
        memBytes: readNumber(path.join(cg.memory, "memory.current")),
      };
    }
    return {
      cpuSeconds: readNumber(path.join(cg.cpuacct, "cpuacct.usage")) / 1e9,
      memBytes: readNumber(path.join(cg.memory, "memory.usage_in_bytes")),
    };
  }

  /** Pids still in the task's cgroups. */
  pids(cg: TaskCgroups): number[] {
    const out = new Set<number>();
    for (const d of cg.dirs) {
      try {
        for (const line of fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n")) {
          if (line.trim()) out.add(Number(line));
        }
      } catch {
        // Already removed.
      }
    }
    return [...out];
  }

  /**
   * SIGKILLs what is left in the task's cgroups and removes them (and the agent's directory
   * once empty). Retries for a while: a killed process leaves its cgroup only once reaped.
   */
  async destroy(cg: TaskCgroups): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt++) {
      for (const pid of this.pids(cg)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Gone meanwhile.
        }
      }
      let left = 0;
      for (const d of cg.dirs) {
        try {
          fs.rmdirSync(d);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") left++;
        }
      }
      if (left === 0) break;
      if (attempt === 49) this.logger.warn("could not remove task cgroups", { dirs: cg.dirs });
      await new Promise((r) => setTimeout(r, 40));
    }
    for (const d of cg.dirs) {
      try {
        fs.rmdirSync(path.dirname(d));
      } catch {
        // Other tasks of this agent still have cgroups there.
      }
    }
  }
}

function cpuQuota(cpus: number): number {
  return Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
}

function realDir(d: string): string {
  // cpu and cpuacct are often one hierarchy mounted twice (cpu,cpuacct): create it once.
  const parent = path.dirname(path.dirname(path.dirname(d)));
  try {
    return path.join(fs.realpathSync(parent), path.relative(parent, d));
  } catch {
    return d;
  }
}

function writeIfPresent(file: string, value: string): void {
  if (!fs.existsSync(file)) return;
  try {
    fs.writeFileSync(file, value);
  } catch {
    // Optional knob (e.g. swap accounting off): the main limit still holds.
  }
}

function readNumber(file: string): number {
  try {
    const n = Number(fs.readFileSync(file, "utf8").trim());
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

/** Reads `key N` from a flat keyed file such as memory.events or cpu.stat. */
function readKeyed(file: string, key: string): number {
  try {
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const [k, v] = line.trim().split(/\s+/);
      if (k === key) return Number(v) || 0;
    }
  } catch {
    // Missing file: nothing counted.
  }
  return 0;
}
