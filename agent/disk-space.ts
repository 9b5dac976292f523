// Free space on the agent's disk, and the reserve the agent keeps free on it. The reserve is
// what a fetch must leave free (so that a release never takes the room the checkpoint and
// the tasks' logs need) and what must be free again before an agent under disk pressure
// takes launches again (so that it does not flap on the last few kilobytes). Like the
// kubelet's `nodefs.available` threshold, it defaults to a share of the filesystem, capped.
import fs from "node:fs";

const MiB = 1024 * 1024;
/** Default reserve: 5 % of the filesystem, at most 64 MiB. */
export const DEFAULT_RESERVE_FRACTION = 0.05;
export const DEFAULT_RESERVE_CAP_BYTES = 64 * MiB;

export interface DiskSpace {
  /** Bytes an unprivileged writer may still use (statfs f_bavail). */
  freeBytes: number;
  totalBytes: number;
}

/** statfs of the filesystem that holds `dir`. */
export function diskSpace(dir: string): DiskSpace {
  const s = fs.statfsSync(dir);
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** The bytes to keep free: the configured MiB, else the default share of `totalBytes`. */
export function reserveBytes(totalBytes: number, configuredMiB?: number): number {
  if (configuredMiB !== undefined) return Math.round(configuredMiB * MiB);
  return Math.min(Math.floor(totalBytes * DEFAULT_RESERVE_FRACTION), DEFAULT_RESERVE_CAP_BYTES);
}

/** "1.5 MiB": for messages an operator reads. */
export function formatMiB(bytes: number): string {
  return `${(Math.max(bytes, 0) / MiB).toFixed(1)} MiB`;
}

/** Bytes that the files under `dir` occupy on disk (allocated blocks: sparse files count what they hold). */
export function bytesOnDisk(dir: string): number {
  let sum = 0;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const p = `${dir}/${name}`;
    try {
      const st = fs.lstatSync(p);
      sum += st.isDirectory() ? bytesOnDisk(p) : st.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return sum;
}
