// A small real disk for fault tests: a tmpfs mounted over a directory the test made (needs
// root), filled to the last byte by a file the test writes, and unmounted on every exit path.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { join } from "node:path";

export class SmallDisk {
  private mounted = false;
  readonly filler: string;

  /** Mounts a tmpfs of `sizeMiB` over `dir` (created if missing). */
  constructor(
    readonly dir: string,
    sizeMiB: number,
  ) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMiB}M`, "tmpfs", dir]);
    this.mounted = true;
    this.filler = join(dir, "filler.bin");
  }

  freeBytes(): number {
    const s = fs.statfsSync(this.dir);
    return s.bavail * s.bsize;
  }

  /** Writes the filler until the disk refuses another byte. */
  fill(): void {
    fillToTheLastByte(this.filler);
  }

  /** Deletes the filler: the space is back. */
  free(): void {
    fs.rmSync(this.filler, { force: true });
  }

  /** Unmounts (lazily, so that a process still holding a file there cannot keep it mounted). */
  unmount(): void {
    if (!this.mounted) return;
    this.mounted = false;
    try {
      execFileSync("umount", ["-l", this.dir]);
    } catch {
      // already gone
    }
  }
}

/** Appends to `path` until its disk refuses another byte. */
export function fillToTheLastByte(path: string): void {
  const fd = fs.openSync(path, "a");
  try {
    for (const chunk of [1024 * 1024, 4096, 1]) {
      const buf = Buffer.alloc(chunk, 0x5a);
      for (;;) {
        try {
          fs.writeSync(fd, buf);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
          throw err;
        }
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}
