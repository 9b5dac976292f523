// CPU time (user + sys) of the benchmark's processes over one phase, in seconds, so that Yard's
// cost can be set next to aria2's. Node processes report their own process.cpuUsage()
// (microseconds, every thread of the process); aria2c is read from /proc/PID/stat, whose utime
// and stime cover every thread too, so the two figures measure the same thing. Each phase
// takes a reading at "go" and one once the last agent is done, and reports the difference:
// setup (starting, the seeder's hash check) and shutdown stay out of it.
import { execFileSync } from "node:child_process";
import fs from "node:fs";

/** A reading of process.cpuUsage(), as it crosses the JSON-line protocol. */
export interface NodeCpu {
  user: number;
  system: number;
}

/** Seconds of CPU between two readings of process.cpuUsage(). */
export function nodeCpuSeconds(after: NodeCpu, before: NodeCpu = { user: 0, system: 0 }): number {
  return (after.user - before.user + after.system - before.system) / 1e6;
}

let clockTicks: number | undefined;

/** Seconds of CPU the process has used so far (utime + stime), or NaN once it is gone. */
export function procCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN;
  }
  // The command name, in parentheses, may hold spaces: the fields are counted after it.
  // After it come state (field 3) … utime (14) and stime (15).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
