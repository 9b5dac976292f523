// A directory pushed as a release is archived reproducibly (cli/release-archive.ts): the same
// tree gives the same bytes whatever the order it was written in, its times, the umask and
// hard links; so a push of a tree that was only touched is the same release, and a content
// change is refused as other bytes under the same name (docs/releases.md).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { archiveDirectory } from "../../cli/release-archive.js";
import type { MasterHandle } from "../../master/master-daemon.js";
import { removeDir, startTestMaster, tempDir } from "../master/releases/helpers.js";
import { tlsEnv } from "../tls-fixture.js";

const YARDCTL = join(resolve(dirname(fileURLToPath(import.meta.url)), "../../.."), "dist/cli/yardctl.js");

function yardctl(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [YARDCTL, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...tlsEnv(), YARD_HOME: join(dirname(YARDCTL), "no-such-home") },
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolvePromise({ code, stdout: out, stderr: err }));
  });
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const at = (seconds: number) => new Date(seconds * 1000);

/** The same tree, written in a given order, with given times and modes. */
function writeTree(root: string, order: "forward" | "reverse", time: number, loose: boolean): void {
  const steps: Array<() => void> = [
    () => mkdirSync(join(root, "bin"), { recursive: true }),
    () => mkdirSync(join(root, "static", "css"), { recursive: true }),
    () => writeFileSync(join(root, "index.html"), "<h1>hello</h1>\n"),
    () => writeFileSync(join(root, "static", "css", "site.css"), "body{}\n"),
    () => writeFileSync(join(root, "bin", "serve"), "#!/bin/sh\necho serving\n"),
    () => writeFileSync(join(root, "static", "app.js"), "console.log(1)\n"),
  ];
  const ordered = order === "forward" ? steps : [...steps.slice(0, 2), ...steps.slice(2).reverse()];
  for (const step of ordered) step();
  // One tree was written under a loose umask (group-writable) and links a file, the other copies it.
  chmodSync(join(root, "bin", "serve"), loose ? 0o775 : 0o700);
  chmodSync(join(root, "index.html"), loose ? 0o664 : 0o600);
  if (loose) linkSync(join(root, "index.html"), join(root, "copy.html"));
  else writeFileSync(join(root, "copy.html"), "<h1>hello</h1>\n");
  symlinkSync("index.html", join(root, "home.html"));
  for (const p of [
    "index.html",
    "copy.html",
    "bin/serve",
    "static/app.js",
    "static/css/site.css",
    "bin",
    "static",
    ".",
  ])
    utimesSync(join(root, p), at(time + 7), at(time));
}

describe("reproducible release archives", () => {
  const dir = tempDir("release-archive");
  let master: MasterHandle | undefined;
  after(async () => {
    await master?.stop();
    removeDir(dir);
  });

  test("two trees written in different orders, at different times, under different umasks tar to the same sha256", async () => {
    const a = join(dir, "a");
    const b = join(dir, "b");
    writeTree(a, "forward", 1_600_000_000, false);
    writeTree(b, "reverse", 1_700_000_000, true);
    await archiveDirectory(a, join(dir, "a.tar"));
    await archiveDirectory(b, join(dir, "b.tar"));
    assert.equal(sha256(join(dir, "a.tar")), sha256(join(dir, "b.tar")));

    // What the tree is does change the bytes: the executable bit, a symlink's target, a content.
    chmodSync(join(b, "bin", "serve"), 0o644);
    await archiveDirectory(b, join(dir, "b2.tar"));
    assert.notEqual(sha256(join(dir, "b2.tar")), sha256(join(dir, "a.tar")));
    chmodSync(join(b, "bin", "serve"), 0o755);
    await archiveDirectory(b, join(dir, "b3.tar"));
    assert.equal(sha256(join(dir, "b3.tar")), sha256(join(dir, "a.tar")));
    writeFileSync(join(b, "static", "app.js"), "console.log(2)\n");
    await archiveDirectory(b, join(dir, "b4.tar"));
    assert.notEqual(sha256(join(dir, "b4.tar")), sha256(join(dir, "a.tar")));
  });

  test("yardctl pushes a touched tree again as the same release, and refuses a changed one", async () => {
    master = await startTestMaster(join(dir, "master"));
    const m = ["--master", master.address];
    const tree = join(dir, "site");
    writeTree(tree, "forward", 1_600_000_000, false);

    const first = await yardctl(["release", "push", "site@1.0", tree, ...m]);
    assert.equal(first.code, 0, first.stderr);
    const pushed = /sha256 ([0-9a-f]{64})/.exec(first.stdout);
    assert.ok(pushed, first.stdout);

    // touch: new mtime and atime on a file and its directory; the contents stay.
    utimesSync(join(tree, "static", "app.js"), new Date(), new Date());
    utimesSync(join(tree, "static"), new Date(), new Date());
    const touched = await yardctl(["release", "push", "site@1.0", tree, ...m]);
    assert.equal(touched.code, 0, touched.stderr);
    assert.match(touched.stdout, /^site@1\.0 unchanged/);
    assert.equal(master.releases.list().length, 1);
    assert.equal(master.releases.list()[0]!.sha256, pushed[1]);

    writeFileSync(join(tree, "static", "app.js"), "console.log(2)\n");
    const changed = await yardctl(["release", "push", "site@1.0", tree, ...m]);
    assert.equal(changed.code, 1, changed.stdout);
    assert.match(changed.stderr, /release site@1\.0 already exists with other bytes/);
    assert.equal(master.releases.list()[0]!.sha256, pushed[1]);
  });
});
