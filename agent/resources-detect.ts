// The agent's totals: detected from the host unless the operator says otherwise.
import fs from "node:fs";
import os from "node:os";
import { InvalidArgumentError } from "../common/errors.js";
import { normalizeRanges, type Range, type Resources } from "../common/resources.js";

const MIB = 1024 * 1024;

export interface ResourceOverrides {
  cpus?: number;
  mem?: number;
  disk?: number;
  ports?: Range[];
}

export const DEFAULT_PORTS: Range[] = [{ begin: 31000, end: 32000 }];

/** cpus = os.cpus().length, mem = total memory, disk = free space of dataDir (MiB). */
export function detectResources(dataDir: string, o: ResourceOverrides = {}): Resources {
  for (const name of ["cpus", "mem", "disk"] as const) {
    const v = o[name];
    if (v !== undefined && (!Number.isFinite(v) || v < 0)) {
      throw new InvalidArgumentError(name, `${v} is not a non-negative number`);
    }
  }
  for (const r of o.ports ?? []) {
    if (
      !Number.isInteger(r.begin) ||
      !Number.isInteger(r.end) ||
      r.begin < 1 ||
      r.end > 65535 ||
      r.end < r.begin
    ) {
      throw new InvalidArgumentError("ports", `${r.begin}-${r.end} is not a valid port range`);
    }
  }
  return {
    cpus: o.cpus ?? os.cpus().length,
    mem: o.mem ?? Math.floor(os.totalmem() / MIB),
    disk: o.disk ?? freeDiskMiB(dataDir),
    ports: normalizeRanges(o.ports ?? DEFAULT_PORTS),
  };
}

function freeDiskMiB(dir: string): number {
  try {
    const s = fs.statfsSync(dir);
    return Math.floor((s.bavail * s.bsize) / MIB);
  } catch {
    return 0;
  }
}
