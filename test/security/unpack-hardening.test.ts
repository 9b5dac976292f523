// Hole 6 of the security review, releases: unpacked into a sandbox they kept setuid bits and
// symbolic links that lead out of it. The pure checks on real trees first; then real releases
// through a real master and agent: one with a setuid file, an absolute symlink, a `../`
// symlink and a hard link out fails its task naming each bad entry; a sound one with a
// setuid file runs, the bit stripped.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { installIntoSandbox } from "../../agent/fetcher/artifact-install.js";
import { guardUnpackedTree, linkDestination, UnsafeEntryError } from "../../agent/fetcher/unpack-guard.js";
import { ReleaseClient } from "../../cli/commands/release.js";
import { Reason, TaskState, taskInfo } from "../../framework-sdk/index.js";
import { tempDir } from "../agent/helpers.js";
import { tlsOf } from "../tls-fixture.js";
import { TestCluster } from "../cluster/harness.js";
import { TaskRunner } from "./task-runner.js";
import { type TarEntry, writeTar } from "./tar-writer.js";

const mode = (p: string) => fs.lstatSync(p).mode & 0o7777;

/** A setuid file, an absolute symlink, a `../` symlink and a hard link out, as an attacker writes them. */
const EVIL: TarEntry[] = [
  { name: "bin/", type: "5" },
  { name: "bin/tool", type: "0", mode: 0o4755, data: "#!/bin/sh\necho tool\n" },
  { name: "root", type: "2", linkname: "/" },
  { name: "bin/up", type: "2", linkname: "../../../../etc" },
  { name: "hostname", type: "1", linkname: "../../../../etc/hostname" },
];

describe("unpack guard (real trees)", () => {
  const dirs: string[] = [];
  const dir = (p: string) => {
    const d = tempDir(p);
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test("setuid, setgid and sticky bits are stripped; sound links and in-tree hard links stay", async () => {
    const sb = dir("guard-ok");
    fs.mkdirSync(path.join(sb, "bin"));
    fs.mkdirSync(path.join(sb, "shared"));
    fs.writeFileSync(path.join(sb, "bin", "su"), "x");
    fs.chmodSync(path.join(sb, "bin", "su"), 0o4755);
    fs.writeFileSync(path.join(sb, "bin", "sg"), "x");
    fs.chmodSync(path.join(sb, "bin", "sg"), 0o2711);
    fs.chmodSync(path.join(sb, "shared"), 0o3777);
    fs.symlinkSync("bin/su", path.join(sb, "current"));
    fs.symlinkSync("../current", path.join(sb, "shared", "up-and-in"));
    fs.symlinkSync("missing/file", path.join(sb, "dangling"));
    fs.linkSync(path.join(sb, "bin", "su"), path.join(sb, "su-again"));
    const r = await guardUnpackedTree(sb);
    assert.deepEqual(r.stripped.sort(), ["bin/sg", "bin/su", "shared"]);
    assert.equal(mode(path.join(sb, "bin", "su")), 0o755);
    assert.equal(mode(path.join(sb, "bin", "sg")), 0o711);
    assert.equal(mode(path.join(sb, "shared")), 0o777);
    for (const kept of ["current", "shared/up-and-in", "dangling", "su-again"]) {
      assert.ok(fs.lstatSync(path.join(sb, kept)), kept);
    }
  });

  test("links that lead out are refused by name and removed, even through an in-tree `dot -> .`", async () => {
    const outside = dir("guard-outside");
    fs.writeFileSync(path.join(outside, "secret"), "s");
    const sb = dir("guard-bad");
    fs.mkdirSync(path.join(sb, "a"));
    fs.symlinkSync("/etc", path.join(sb, "abs"));
    fs.symlinkSync("../../x", path.join(sb, "a", "up"));
    fs.symlinkSync(".", path.join(sb, "dot"));
    fs.symlinkSync("dot/../escape", path.join(sb, "sneaky"));
    fs.symlinkSync("loop", path.join(sb, "loop"));
    fs.linkSync(path.join(outside, "secret"), path.join(sb, "hard"));
    await assert.rejects(guardUnpackedTree(sb), (err: unknown) => {
      assert.ok(err instanceof UnsafeEntryError);
      const m = err.message;
      assert.match(m, /abs -> \/etc \(an absolute symbolic link\)/);
      assert.match(m, /a\/up -> \.\.\/\.\.\/x \(leads to .*, outside the sandbox\)/);
      assert.match(m, /sneaky -> dot\/\.\.\/escape \(leads to .*, outside the sandbox\)/);
      assert.match(m, /loop -> loop \(leads to a loop of links, outside the sandbox\)/);
      assert.match(m, /hard \(a hard link to a file outside the sandbox\)/);
      assert.doesNotMatch(m, /dot -> \./);
      return true;
    });
    for (const gone of ["abs", "a/up", "sneaky", "loop", "hard"]) {
      assert.equal(fs.existsSync(path.join(sb, gone)) || isLink(path.join(sb, gone)), false, gone);
    }
    assert.equal(fs.readFileSync(path.join(outside, "secret"), "utf8"), "s", "the outside file is untouched");
  });

  test("linkDestination resolves through links as the kernel does", async () => {
    const sb = fs.realpathSync(dir("guard-dest"));
    fs.mkdirSync(path.join(sb, "d1", "d2"), { recursive: true });
    fs.symlinkSync("d1/d2", path.join(sb, "deep"));
    assert.equal(await linkDestination(sb, "deep/../x"), path.join(sb, "d1", "x"));
    assert.equal(await linkDestination(sb, "nope/../x"), path.join(sb, "x"));
    assert.equal(await linkDestination(path.join(sb, "d1"), "../.."), path.dirname(sb));
  });

  test("an attacker's tar: the install fails naming each bad entry; what it left is cleaned", async () => {
    const work = dir("guard-tar");
    const tar = path.join(work, "evil.tar");
    writeTar(tar, EVIL);
    const sb = path.join(work, "sandbox");
    await assert.rejects(installIntoSandbox("tar", tar, sb), (err: unknown) => {
      const m = (err as Error).message;
      assert.match(m, /root -> \/ \(an absolute symbolic link\)/);
      assert.match(m, /bin\/up -> \.\.\/\.\.\/\.\.\/\.\.\/etc \(leads to .*, outside the sandbox\)/);
      // GNU tar itself refuses the hard link (it strips the `../` and finds no such file inside).
      assert.match(m, /hostname/);
      return true;
    });
    assert.equal(mode(path.join(sb, "bin", "tool")), 0o755);
    assert.equal(isLink(path.join(sb, "root")), false);
    assert.equal(isLink(path.join(sb, "bin", "up")), false);
  });
});

function isLink(p: string): boolean {
  try {
    return fs.lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

describe("releases unpacked by a real agent", { timeout: 120_000 }, () => {
  const cluster = new TestCluster();
  let runner: TaskRunner | undefined;
  let client: ReleaseClient | undefined;

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent();
    await cluster.waitForAgents(1);
    client = new ReleaseClient({ address: cluster.masterAddress, token: cluster.token, ...tlsOf("admin") });
    runner = new TaskRunner(cluster.masterAddress, cluster.token, "unpack-hardening");
    await runner.start();
  });

  after(async () => {
    client?.close();
    await runner?.stop().catch(() => undefined);
    await cluster.stop();
  });

  const processTask = (taskId: string, release: string, command: string) =>
    taskInfo({ taskId, command, cpus: 0.1, mem: 16, release });

  test("the attacker's release fails its task, naming the entries", async () => {
    const tar = path.join(cluster.root, "evil.tar");
    writeTar(tar, EVIL);
    const size = fs.statSync(tar).size;
    await client!.push(
      { name: "evil", version: "1", kind: "tar", fileName: "evil.tar", size, image: "" },
      tar,
      () => {},
    );
    const end = await runner!.run(processTask("uses-evil", "evil@1", "ls -l root/ bin/up/"));
    assert.equal(end.state, TaskState.TASK_FAILED, end.message);
    assert.equal(end.reason, Reason.FETCH_FAILED);
    assert.match(end.message, /release evil@1 could not be fetched, verified and installed/);
    assert.match(end.message, /root -> \/ \(an absolute symbolic link\)/);
    assert.match(end.message, /bin\/up -> \.\.\/\.\.\/\.\.\/\.\.\/etc/);
    assert.match(end.message, /hostname/);
  });

  test("a sound release runs with its setuid bit stripped and its inner link intact", async () => {
    const site = path.join(cluster.root, "site");
    fs.mkdirSync(path.join(site, "bin"), { recursive: true });
    fs.writeFileSync(path.join(site, "bin", "tool"), "#!/bin/sh\necho tool\n");
    fs.chmodSync(path.join(site, "bin", "tool"), 0o4755);
    fs.symlinkSync("bin/tool", path.join(site, "tool"));
    const push = await cluster.yardctl(["release", "push", "site@1", site]);
    assert.equal(push.code, 0, push.stderr);
    const end = await runner!.run(
      processTask(
        "uses-site",
        "site@1",
        'test "$(stat -c %a bin/tool)" = 755 || { stat -c %a bin/tool; exit 3; }; test "$(./tool)" = tool',
      ),
    );
    assert.equal(end.state, TaskState.TASK_FINISHED, end.message);
  });
});
