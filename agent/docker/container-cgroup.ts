// A running container's cpu and memory usage, read from its cgroup files. Found through the
// container's init pid (/proc/PID/cgroup), so it holds for any cgroup driver and parent.
// Files are read synchronously: a few small reads, the same cost as the process executor's.
import fs from "node:fs";
import path from "node:path";
import type { TaskResourceUsage } from "../executor.js";

export interface ContainerCgroupFiles {
  /** Nanoseconds (v1 cpuacct.usage) or the `usage_usec` line of v2 cpu.stat. */
  cpu: string;
  cpuV2: boolean;
  memory: string;
  /** v1 memory.stat / v2 memory.stat: page cache is subtracted, as `docker stats` does. */
  memoryStat: string;
}

/** Locates the cgroup files of the process `pid`; undefined when they cannot be found. */
export function containerCgroupFiles(pid: number, root = "/sys/fs/cgroup"): ContainerCgroupFiles | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined;
  }
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") v2 = m[3];
    for (const c of m[2]!.split(",")) if (c) v1.set(c, m[3]!);
  }
  const memRel = v1.get("memory");
  const cpuRel = v1.get("cpuacct");
  if (memRel !== undefined && cpuRel !== undefined) {
    const memDir = path.join(root, "memory", memRel);
    const cpuDir = ["cpuacct", "cpu,cpuacct", "cpuacct,cpu"]
      .map((d) => path.join(root, d, cpuRel))
      .find((d) => fs.existsSync(path.join(d, "cpuacct.usage")));
    if (cpuDir && fs.existsSync(path.join(memDir, "memory.usage_in_bytes"))) {
      return {
        cpu: path.join(cpuDir, "cpuacct.usage"),
        cpuV2: false,
        memory: path.join(memDir, "memory.usage_in_bytes"),
        memoryStat: path.join(memDir, "memory.stat"),
      };
    }
  }
  if (v2 !== undefined && fs.existsSync(path.join(root, "cgroup.controllers"))) {
    const dir = path.join(root, v2);
    if (fs.existsSync(path.join(dir, "memory.current"))) {
      return {
        cpu: path.join(dir, "cpu.stat"),
        cpuV2: true,
        memory: path.join(dir, "memory.current"),
        memoryStat: path.join(dir, "memory.stat"),
      };
    }
  }
  return undefined;
}

/** Reads usage now; undefined once the cgroup is gone (the container ended). */
export function readContainerUsage(f: ContainerCgroupFiles): TaskResourceUsage | undefined {
  try {
    const cpuText = fs.readFileSync(f.cpu, "utf8");
    const cpuSeconds = f.cpuV2 ? keyed(cpuText, "usage_usec") / 1e6 : Number(cpuText.trim()) / 1e9;
    const mem = Number(fs.readFileSync(f.memory, "utf8").trim());
    let cache = 0;
    try {
      const stat = fs.readFileSync(f.memoryStat, "utf8");
      cache = f.cpuV2 ? keyed(stat, "inactive_file") : keyed(stat, "total_inactive_file");
    } catch {
      // No stat file: report the raw usage.
    }
    return { cpuSeconds, memBytes: Math.max(0, mem - cache) };
  } catch {
    return undefined;
  }
}

function keyed(text: string, key: string): number {
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k === key) return Number(v) || 0;
  }
  return 0;
}
