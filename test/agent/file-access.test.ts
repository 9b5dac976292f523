// What the agent keeps closed to tasks and how it touches files a task may have replaced:
// modes of the data dir, handing a sandbox over without following links, reads that refuse links.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import {
  closedAncestor,
  giveSandboxTo,
  lockDownDataDir,
  openForAppendNoFollow,
  readTaskFile,
} from "../../agent/file-access.js";
import { tempDir } from "./helpers.js";

const mode = (p: string) => fs.statSync(p).mode & 0o777;
/** Handing files to another user needs root. Outside CI a non-root run skips, saying why. */
const rootSkip: string | false =
  process.getuid?.() !== 0 && process.env.CI !== "true" ? "needs root to give files away" : false;

describe("file access", { skip: rootSkip }, () => {
  const root = tempDir("file-access");
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test("the data dir is passable, the sandboxes too; everything else is the agent's alone", () => {
    const data = path.join(root, "data");
    fs.mkdirSync(path.join(data, "cache"), { recursive: true, mode: 0o755 });
    fs.writeFileSync(path.join(data, "agent.db"), "x", { mode: 0o644 });
    fs.symlinkSync("/etc/hostname", path.join(data, "link"));
    lockDownDataDir(data);
    assert.equal(mode(data), 0o711);
    assert.equal(mode(path.join(data, "sandboxes")), 0o711);
    assert.equal(mode(path.join(data, "cache")), 0o700);
    assert.equal(mode(path.join(data, "agent.db")), 0o600);
    assert.equal(mode("/etc/hostname") & 0o044, 0o044, "a link's target is left alone");
  });

  test("a closed directory on the way to the sandboxes is named", () => {
    fs.chmodSync(root, 0o711); // made 0700 by mkdtemp
    const closed = path.join(root, "closed");
    fs.mkdirSync(path.join(closed, "agent"), { recursive: true });
    fs.chmodSync(closed, 0o700);
    assert.equal(closedAncestor(path.join(closed, "agent")), closed);
    fs.chmodSync(closed, 0o711);
    assert.equal(closedAncestor(path.join(closed, "agent")), undefined);
  });

  test("a sandbox is handed over without following links or taking files with several names", () => {
    const sandbox = path.join(root, "sandbox");
    fs.mkdirSync(path.join(sandbox, "bin"), { recursive: true });
    fs.writeFileSync(path.join(sandbox, "bin", "app"), "#!/bin/sh\n");
    const outside = path.join(root, "outside");
    fs.writeFileSync(outside, "the agent's");
    fs.symlinkSync(outside, path.join(sandbox, "link"));
    fs.linkSync(outside, path.join(sandbox, "hard"));
    giveSandboxTo(sandbox, 4242, 4343);
    const owner = (p: string) => {
      const st = fs.lstatSync(p);
      return `${st.uid}:${st.gid}`;
    };
    assert.equal(owner(sandbox), "4242:4343");
    assert.equal(mode(sandbox), 0o750);
    assert.equal(owner(path.join(sandbox, "bin")), "4242:4343");
    assert.equal(owner(path.join(sandbox, "bin", "app")), "4242:4343");
    assert.equal(owner(outside), "0:0", "neither the link's target nor a second name of it changes hands");
    assert.equal(owner(path.join(sandbox, "link")), "0:0");
  });

  test("reads and appends of sandbox files refuse links; a read is bounded", () => {
    const dir = path.join(root, "reads");
    fs.mkdirSync(dir);
    const secret = path.join(root, "secret");
    fs.writeFileSync(secret, "s3cret");
    fs.symlinkSync(secret, path.join(dir, "exit_status"));
    assert.equal(readTaskFile(path.join(dir, "exit_status")), undefined);
    assert.throws(() => openForAppendNoFollow(path.join(dir, "exit_status")), { code: "ELOOP" });
    execFileSync("mkfifo", [path.join(dir, "fifo")]);
    assert.equal(readTaskFile(path.join(dir, "fifo")), undefined, "a FIFO is neither waited on nor read");
    fs.writeFileSync(path.join(dir, "big"), "7".repeat(10_000));
    assert.equal(readTaskFile(path.join(dir, "big"), 3), "777");
    assert.equal(readTaskFile(path.join(dir, "missing")), undefined);
    const fd = openForAppendNoFollow(path.join(dir, "stdout"));
    fs.closeSync(fd);
    assert.equal(mode(path.join(dir, "stdout")) & 0o777, 0o640);
  });
});
