// What a release may leave in a task's sandbox once unpacked. Run after every install, it
// walks the tree without following a link and
// - strips setuid, setgid and sticky bits: a release's files run with the task's rights, never
//   with their owner's or group's (the agent unpacks as root, and tar as root keeps modes);
// - refuses symbolic links that lead outside the sandbox: absolute ones, and relative ones
//   whose target, resolved through the tree's own links as the kernel would, leaves it (a
//   `dot -> .` makes `dot/../x` escape although it reads as staying inside);
// - refuses hard links to files outside the sandbox (more names than the tree holds) and
//   device nodes (a block device is the disk under every sandbox).
// Refused entries are removed, so that a failed sandbox holds nothing the agent or an
// operator reading it could be led out by; the install then fails naming each of them.
import fs from "node:fs/promises";
import path from "node:path";

/** setuid, setgid, sticky. */
const SPECIAL_BITS = 0o7000;
/** As the kernel's MAXSYMLINKS: a longer chain of links resolves to nothing (ELOOP). */
const MAX_LINK_HOPS = 40;

/** A release left entries in a sandbox that lead outside it; each is named in the message. */
export class UnsafeEntryError extends Error {
  constructor(readonly entries: readonly string[]) {
    super(`the release has entries that lead outside the sandbox: ${entries.join("; ")}`);
    this.name = "UnsafeEntryError";
  }
}

export interface GuardResult {
  /** Paths (relative to the sandbox) whose setuid, setgid or sticky bits were stripped. */
  stripped: string[];
}

/** True when `p` is `root` or lies below it. */
function inside(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith("/") ? root : `${root}/`);
}

/**
 * Where the symlink in (physical) directory `dir` with target `target` leads, resolving the
 * links on the way as the kernel does. A component that does not exist ends the resolution
 * lexically: the kernel would not get past it, so nothing beyond it can lead anywhere.
 * Undefined for a chain too long to resolve.
 */
export async function linkDestination(dir: string, target: string): Promise<string | undefined> {
  let cur = path.isAbsolute(target) ? [] : dir.split("/").filter(Boolean);
  let queue = target.split("/");
  let hops = 0;
  let missing = false;
  while (queue.length > 0) {
    const c = queue.shift()!;
    if (c === "" || c === ".") continue;
    if (c === "..") {
      cur.pop();
      continue;
    }
    const next = `/${[...cur, c].join("/")}`;
    if (!missing) {
      const st = await fs.lstat(next).catch(() => undefined);
      if (!st) missing = true;
      else if (st.isSymbolicLink()) {
        if (++hops > MAX_LINK_HOPS) return undefined;
        const t = await fs.readlink(next);
        if (path.isAbsolute(t)) cur = [];
        queue = [...t.split("/"), ...queue];
        continue;
      }
    }
    cur.push(c);
  }
  return `/${cur.join("/")}`;
}

/** Checks and cleans the tree under `root` as the header says; throws UnsafeEntryError. */
export async function guardUnpackedTree(root: string): Promise<GuardResult> {
  const top = await fs.realpath(root);
  const refused: string[] = [];
  const stripped: string[] = [];
  const remove: string[] = [];
  /** Files with more than one name: their names in the tree, against their link count. */
  const linked = new Map<string, { nlink: number; names: string[] }>();
  const rel = (p: string) => path.relative(top, p);

  const walk = async (dir: string): Promise<void> => {
    for (const name of await fs.readdir(dir)) {
      const p = path.join(dir, name);
      const st = await fs.lstat(p);
      if (st.isSymbolicLink()) {
        const target = await fs.readlink(p);
        if (path.isAbsolute(target)) {
          refused.push(`${rel(p)} -> ${target} (an absolute symbolic link)`);
          remove.push(p);
          continue;
        }
        const to = await linkDestination(dir, target);
        if (to === undefined || !inside(to, top)) {
          refused.push(`${rel(p)} -> ${target} (leads to ${to ?? "a loop of links"}, outside the sandbox)`);
          remove.push(p);
        }
        continue;
      }
      if (st.isBlockDevice() || st.isCharacterDevice()) {
        refused.push(`${rel(p)} (a device node)`);
        remove.push(p);
        continue;
      }
      if ((st.mode & SPECIAL_BITS) !== 0) {
        // Not a link (lstat above), and no task runs in the sandbox yet: chmod acts on this entry.
        await fs.chmod(p, st.mode & 0o777);
        stripped.push(rel(p));
      }
      if (st.isDirectory()) await walk(p);
      else if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const e = linked.get(key) ?? { nlink: st.nlink, names: [] };
        e.names.push(p);
        linked.set(key, e);
      }
    }
  };
  await walk(top);
  for (const { nlink, names } of linked.values()) {
    if (names.length >= nlink) continue;
    refused.push(`${names.map(rel).join(", ")} (a hard link to a file outside the sandbox)`);
    remove.push(...names);
  }
  await Promise.all(remove.map((p) => fs.rm(p, { force: true })));
  if (refused.length > 0) throw new UnsafeEntryError(refused);
  return { stripped };
}
