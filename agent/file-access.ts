// Who may read what the agent keeps on disk. Tasks run as another user than the agent (see
// task-user.ts), so the agent's files must be closed to them: the data dir may be passed
// through (mode 0711: a task reaches its sandbox by its absolute path, $YARD_SANDBOX) but not
// listed, and everything in it but the sandboxes is the agent's alone (0700 dirs, 0600
// files: the checkpoint and its WAL, the release cache, keys and tokens). A sandbox belongs to
// its task's user. Files a task can touch are opened by the agent without following links,
// so a task cannot make the agent read (and ship as logs or messages) a file of its choosing.
import fs from "node:fs";
import path from "node:path";

export const SANDBOXES_DIR = "sandboxes";

/** Sets the modes of the data dir and what is in it; call after creating anything there. */
export function lockDownDataDir(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o711 });
  fs.chmodSync(dataDir, 0o711);
  const sandboxes = path.join(dataDir, SANDBOXES_DIR);
  fs.mkdirSync(sandboxes, { recursive: true, mode: 0o711 });
  fs.chmodSync(sandboxes, 0o711);
  for (const e of fs.readdirSync(dataDir, { withFileTypes: true })) {
    if (e.name === SANDBOXES_DIR || e.isSymbolicLink()) continue;
    fs.chmodSync(path.join(dataDir, e.name), e.isDirectory() ? 0o700 : 0o600);
  }
}

/**
 * The first directory on the way to `dir` that other users cannot pass through (no o+x), or
 * undefined: a task of another user then cannot reach its sandbox by its absolute path.
 */
export function closedAncestor(dir: string): string | undefined {
  let d = path.resolve(dir);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(d);
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  for (const c of chain) {
    try {
      if ((fs.statSync(c).mode & 0o001) === 0) return c;
    } catch {
      return c;
    }
  }
  return undefined;
}

/**
 * Gives a sandbox (what the agent put there: the release, the wrapper, the log files) to the
 * task's user, mode 0750 at the top. Never follows a link, and leaves alone what the agent
 * does not own and files with several links: a task that ran in this sandbox before cannot
 * have the agent hand it another file.
 */
export function giveSandboxTo(sandbox: string, uid: number, gid: number): void {
  const agentUid = process.getuid?.() ?? 0;
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    if (st.uid !== agentUid || st.isSymbolicLink()) return;
    if (st.isDirectory()) {
      fs.lchownSync(p, uid, gid);
      for (const name of fs.readdirSync(p)) walk(path.join(p, name));
    } else if (st.isFile() && st.nlink === 1) {
      fs.lchownSync(p, uid, gid);
    }
  };
  walk(sandbox);
  fs.chmodSync(sandbox, 0o750);
}

/**
 * Opens a file for reading without following a final symlink, and only if it is a regular
 * file; undefined when it is missing or is not.
 */
export function openRegularNoFollow(file: string): number | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    return undefined;
  }
  return fd;
}

/** Reads a small file a task could have tampered with: no links followed, at most `limit` bytes. */
export function readTaskFile(file: string, limit = 4096): string | undefined {
  const fd = openRegularNoFollow(file);
  if (fd === undefined) return undefined;
  try {
    const buf = Buffer.alloc(limit);
    const n = fs.readSync(fd, buf, 0, limit, 0);
    return buf.subarray(0, n).toString("utf8");
  } finally {
    fs.closeSync(fd);
  }
}

/** Opens a file the agent writes in a task's sandbox: appends, creates (0640), never through a link. */
export function openForAppendNoFollow(file: string): number {
  const c = fs.constants;
  return fs.openSync(file, c.O_WRONLY | c.O_APPEND | c.O_CREAT | c.O_NOFOLLOW, 0o640);
}
