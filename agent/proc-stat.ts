// Reading /proc: process start times (to tell a re-attached pid from a reused one), liveness
// of processes that are no longer our children, and CPU/memory of a process group when no
// cgroup accounts for it.
import fs from "node:fs";

/** Clock ticks per second; Linux reports 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;
const PAGE_SIZE = 4096;

interface ProcStat {
  state: string;
  pgrp: number;
  utime: number;
  stime: number;
  startTime: number;
  rssPages: number;
}

/** Parses /proc/PID/stat; undefined when the process does not exist. */
export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // comm (field 2) may hold spaces and parentheses: fields after it start at the last ')'.
  const rest = text
    .slice(text.lastIndexOf(")") + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  return {
    state: rest[0] ?? "?",
    pgrp: Number(rest[2]),
    utime: Number(rest[11]),
    stime: Number(rest[12]),
    startTime: Number(rest[19]),
    rssPages: Number(rest[21]),
  };
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined. */
export function processStartTime(pid: number): number | undefined {
  return readProcStat(pid)?.startTime;
}

/**
 * True when `pid` runs (not a zombie) and is the same process that started at `startTime`,
 * so that a pid reused by an unrelated process after a restart is not taken for our task.
 */
export function isSameProcessAlive(pid: number, startTime: number): boolean {
  const st = readProcStat(pid);
  if (!st) return false;
  if (st.state === "Z" || st.state === "X") return false;
  return st.startTime === startTime;
}

/** Pids of the live members of process group `pgid` (scans /proc). */
export function processGroupMembers(pgid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc");
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (st && st.pgrp === pgid && st.state !== "Z") out.push(Number(name));
  }
  return out;
}

/** CPU seconds and resident bytes summed over a process group. */
export function processGroupUsage(pgid: number): { cpuSeconds: number; memBytes: number } {
  let ticks = 0;
  let pages = 0;
  for (const pid of processGroupMembers(pgid)) {
    const st = readProcStat(pid);
    if (!st) continue;
    ticks += st.utime + st.stime;
    pages += st.rssPages;
  }
  return { cpuSeconds: ticks / CLOCK_TICKS, memBytes: pages * PAGE_SIZE };
}

/** Sends `signal` to every process of group `pgid`; false when the group is empty. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}
