// The tarball `yardctl release push NAME@VERSION DIR` uploads. Its bytes are a function of the
// tree alone, so that pushing an unchanged tree again is a no-op (the master refuses other
// bytes under a name it holds) and two machines that build the same tree push the same
// release. See docs/releases.md, "Directories are archived reproducibly".
import { runTool } from "./run-tool.js";

/**
 * GNU tar's arguments for a reproducible archive of `dir` written to `out`. What the tree does
 * not fix is pinned:
 * - order: entries sorted by name, not in readdir order;
 * - times: every mtime is 0 (1970-01-01); the gnu format writes no atime or ctime;
 * - owners: uid and gid 0 with empty names, not the pusher's;
 * - modes: the owner may read and write, everyone may read, and a file that anyone may run
 *   stays runnable by all (agents run binaries from releases); write bits for group and others,
 *   set-id and sticky bits go, so the pusher's umask does not change the bytes;
 * - hard links: stored as the files they are, so a tree built by copying and one built by
 *   linking tar alike (and an agent never sees a link entry).
 * Names, contents, symlink targets, directories and the executable bit remain: those are the tree.
 */
export function archiveArgs(dir: string, out: string): string[] {
  return [
    "--sort=name",
    "--format=gnu",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--mode=u=rwX,go=rX",
    "--hard-dereference",
    "-C",
    dir,
    "-cf",
    out,
    ".",
  ];
}

/** Writes the reproducible archive of `dir` to `out` with GNU tar. */
export function archiveDirectory(dir: string, out: string): Promise<void> {
  return runTool("tar", archiveArgs(dir, out), `tar of ${dir}`);
}
