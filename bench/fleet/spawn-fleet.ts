// Starts a fleet process (fleet-process.ts) and waits for all its agents to register.
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { FleetSpec } from "./agent-fleet.js";

const here = dirname(fileURLToPath(import.meta.url));

export interface FleetProcess {
  child: ChildProcess;
  /** Seconds from the process's start of its first agent to the last one registered. */
  seconds: number;
  rssMiB: number;
}

export function spawnFleet(spec: FleetSpec, onLine?: (line: string) => void): Promise<FleetProcess> {
  const profile = process.env.YARD_BENCH_FLEET_PROF
    ? ["--cpu-prof", "--cpu-prof-dir", process.env.YARD_BENCH_FLEET_PROF]
    : [];
  const child = spawn(process.execPath, [...profile, join(here, "fleet-process.js"), JSON.stringify(spec)], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, YARD_LOG_LEVEL: "warn" },
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      if (line.startsWith("status ")) {
        statusWaiters.get(child)?.shift()?.(JSON.parse(line.slice("status ".length)) as FleetStatus);
      } else if (line.startsWith("ready ")) {
        const r = JSON.parse(line.slice("ready ".length)) as { seconds: number; rssMiB: number };
        resolve({ child, ...r });
      } else {
        onLine?.(line);
      }
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`the agent fleet exited before it was ready (${signal ?? `exit ${code}`})`)),
    );
  });
}

export interface FleetStatus {
  registered: number;
  /** Agents on a live stream with the leading master. */
  connected: number;
  /** Launches the fleet's executors were asked for since it started. */
  launches: number;
}

/** Who waits for a fleet's next "status" lines, in order. */
const statusWaiters = new WeakMap<ChildProcess, ((s: FleetStatus) => void)[]>();

/** Asks a fleet process for its status (registered and connected agents, launches). */
export function fleetStatus(fleet: FleetProcess): Promise<FleetStatus> {
  return new Promise((resolve) => {
    const waiters = statusWaiters.get(fleet.child) ?? [];
    statusWaiters.set(fleet.child, waiters);
    waiters.push(resolve);
    fleet.child.stdin!.write("status\n");
  });
}

/** SIGTERM (the agents stop), then waits for the process to end. */
export async function stopFleet(fleet: FleetProcess): Promise<void> {
  if (fleet.child.exitCode !== null || fleet.child.signalCode !== null) return;
  const exited = new Promise((r) => fleet.child.once("exit", r));
  fleet.child.kill("SIGTERM");
  await exited;
}
