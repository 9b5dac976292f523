// Interop: what `yardctl release torrent --grant HOST` exports is a standard BitTorrent v1
// metainfo file, and the stock webtorrent client on that host fetches the release from the
// master's seeder through the master's tracker: the private swarm lets an outside client in
// only through such an explicit grant (test/security/private-swarm.test.ts has the refusals).
// Then the master restarts and seeds its releases again.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import type { MasterHandle } from "../../../master/master-daemon.js";
import { parseTorrentFile } from "../../../master/releases/release-torrent.js";
import { downloadWithWebtorrent, randomFile, removeDir, startTestMaster, tempDir } from "./helpers.js";
import { tlsEnv } from "../../tls-fixture.js";

const YARDCTL = join(resolve(dirname(fileURLToPath(import.meta.url)), "../../../.."), "dist/cli/yardctl.js");

/** Runs yardctl; resolves its exit code, stdout (bytes) and stderr. */
function yardctl(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [YARDCTL, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...tlsEnv(), YARD_HOME: join(dirname(YARDCTL), "no-such-home") },
    });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => resolvePromise({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");

describe("release interop", () => {
  const dir = tempDir("release-interop");
  const dataDir = join(dir, "master");
  let master: MasterHandle | undefined;
  after(async () => {
    await master?.stop();
    removeDir(dir);
  });

  test("yardctl pushes a directory, exports a standard torrent, and a stock client downloads the release", async () => {
    master = await startTestMaster(dataDir);
    const m = ["--master", master.address];
    const tree = join(dir, "site");
    mkdirSync(join(tree, "static"), { recursive: true });
    writeFileSync(join(tree, "index.html"), "<h1>hello</h1>\n");
    randomFile(join(tree, "static"), "app.js", 700_000);

    const pushed = await yardctl(["release", "push", "site@1.0", tree, ...m]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(
      pushed.stdout.toString(),
      /^pushed site@1\.0: .*sha256 [0-9a-f]{64}, info hash [0-9a-f]{40}/,
    );
    // The same tree tars to the same bytes: the second push changes nothing.
    const again = await yardctl(["release", "push", "site@1.0", tree, ...m]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout.toString(), /^site@1\.0 unchanged/);

    const status = await yardctl(["release", "status", "site@1.0", "-o", "json", ...m]);
    assert.equal(status.code, 0, status.stderr);
    const st = JSON.parse(status.stdout.toString());
    assert.equal(st.seeded, true);
    assert.equal(st.release.kind, "tar");

    const exported = await yardctl([
      "release",
      "torrent",
      "site@1.0",
      "--grant",
      "127.0.0.1",
      "--ttl",
      "10m",
      ...m,
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stderr, /^granted site@1\.0 to 127\.0\.0\.1 \(127\.0\.0\.1\) until \d{4}-/);
    const parsed = await parseTorrentFile(exported.stdout);
    assert.equal(parsed.name, "site-1.0.tar");
    assert.equal(parsed.length, Number(st.release.size));
    assert.equal(parsed.pieceLength, st.release.pieceLength);
    assert.equal(parsed.infoHash, st.release.infoHash);
    assert.equal(parsed.announce.length, 1);
    assert.match(
      parsed.announce[0]!,
      new RegExp(`^https://127\\.0\\.0\\.1:${master.httpPort}/announce\\?grant=[\\w.-]+$`),
    );
    assert.equal(parsed.private, true);

    const file = await downloadWithWebtorrent(exported.stdout, join(dir, "download-1"));
    assert.equal(sha256(file), st.release.sha256);
  });

  test("a restarted master keeps its releases and seeds them again", async () => {
    const before = await master!.releases.list();
    await master!.stop();
    master = await startTestMaster(dataDir);
    // After a start every blob is checked against its sha256 before it is seeded again.
    await master.releases.verifyAll();
    const after = master.releases.list();
    assert.deepEqual(
      after.map((r) => ({ ...r, verifiedAt: 0 })),
      before.map((r) => ({ ...r, verifiedAt: 0 })),
    );
    assert.ok(after[0]!.verifiedAt > before[0]!.verifiedAt, "checked again after the restart");
    const status = master.releases.status("site@1.0");
    assert.equal(status.seeded, true);
    // The announce URL follows the master to its new port; the info hash stays. A grant is
    // signed with the swarm key, which a restart draws again: the host needs a new one.
    const torrent = (await master.releases.grantTorrent("site@1.0", "127.0.0.1", 600)).torrent;
    const parsed = await parseTorrentFile(torrent);
    assert.equal(parsed.infoHash, before[0]!.infoHash);
    assert.ok(parsed.announce[0]!.startsWith(`https://127.0.0.1:${master.httpPort}/announce?grant=`));
    const file = await downloadWithWebtorrent(torrent, join(dir, "download-2"));
    assert.equal(sha256(file), before[0]!.sha256);

    const rm = await yardctl(["release", "rm", "site@1.0", "--master", master.address]);
    assert.equal(rm.code, 0, rm.stderr);
    const ls = await yardctl(["release", "ls", "-o", "json", "--master", master.address]);
    assert.deepEqual(JSON.parse(ls.stdout.toString()).releases ?? [], []);
  });
});
