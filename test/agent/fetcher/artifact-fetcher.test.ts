// BitTorrent integration of the fetcher on 127.0.0.1: a real bittorrent-tracker, seeders and
// fetchers on Yard's swarm engine, real files. Slow suite (a few seconds).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ArtifactFetcher } from "../../../agent/fetcher/artifact-fetcher.js";
import { sha256File } from "../../../agent/fetcher/artifact-verify.js";
import { createLogger, silentLogger } from "../../../common/logger.js";
import type { FetchProgress } from "../../../proto/gen/yard/v1/agent.js";
import {
  makeTorrent,
  randomFile,
  request,
  type Seeder,
  startSeeder,
  SWARM_KEY,
  SWARM_PASSKEY,
  startTracker,
  type Tracker,
  tempDir,
} from "./swarm-fixtures.js";

const MiB = 1024 * 1024;
const root = tempDir("yard-fetcher-");
let tracker: Tracker;
const cleanups: (() => Promise<void>)[] = [];

before(async () => {
  tracker = await startTracker();
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await tracker.close();
  fs.rmSync(root, { recursive: true, force: true });
});

async function fetcher(name: string, init: Partial<ConstructorParameters<typeof ArtifactFetcher>[1]> = {}) {
  const events: FetchProgress[] = [];
  const f = new ArtifactFetcher(
    { onProgress: (p) => events.push(p) },
    {
      cacheDir: path.join(root, name),
      listenHost: "127.0.0.1",
      logger: process.env.YARD_TEST_LOG ? createLogger(name) : silentLogger,
      progressIntervalMs: 100,
      ...init,
    },
  );
  await f.start();
  f.setSwarmCredentials(SWARM_KEY, SWARM_PASSKEY);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await f.stop();
  };
  cleanups.push(stop);
  return { f, events, stop };
}

async function seeder(
  dir: string,
  torrent: Buffer,
  opts: Parameters<typeof startSeeder>[2] = {},
): Promise<Seeder> {
  const s = await startSeeder(dir, torrent, opts);
  cleanups.push(s.close);
  return s;
}

describe("artifact fetcher over a real swarm", () => {
  test("two fetchers get the same release, trade pieces, and end verified", async () => {
    const size = 8 * MiB;
    const src = path.join(root, "seed-a");
    const { file, sha256 } = randomFile(src, "web.bin", size);
    const torrent = await makeTorrent(file, tracker.announce);
    // A slow seeder leaves the fetchers holding different pieces, which they then trade.
    await seeder(src, torrent, { uploadRate: 2 * MiB });
    const a = await fetcher("agent-a");
    const b = await fetcher("agent-b");
    const req = request("web@1.0", sha256, torrent, size);
    const [ea, eb] = await Promise.all([a.f.fetch(req), b.f.fetch(req)]);
    assert.equal(await sha256File(a.f.cache.artifactPath(ea)), sha256);
    assert.equal(await sha256File(b.f.cache.artifactPath(eb)), sha256);
    const peerUpload = a.f.uploaded("web@1.0") + b.f.uploaded("web@1.0");
    assert.ok(peerUpload > 0, `the fetchers uploaded ${peerUpload} bytes to each other`);
    for (const { events } of [a, b]) {
      // FETCHING, then VERIFYING, then DONE, and nothing but DONE after it (a seeding fetcher
      // reports its uploads as DONE progress, however late that comes on a slow machine).
      const states = events.map((e) => e.state);
      const done = states.indexOf("DONE");
      assert.ok(done > 0, `the fetch ended DONE: ${states.join(", ")}`);
      assert.ok(states.indexOf("FETCHING") < states.lastIndexOf("VERIFYING"), states.join(", "));
      assert.ok(states.lastIndexOf("VERIFYING") < done, states.join(", "));
      assert.deepEqual(new Set(states.slice(done)), new Set(["DONE"]));
      assert.equal(events[done]!.size, size);
    }
    assert.deepEqual(a.f.cached(), [{ release: "web@1.0", sha256, size }]);
    // A second request for a verified release is answered from the cache.
    const again = await a.f.fetch(req);
    assert.equal(again.verified, true);
  });

  test("a peer serving bytes that fail the piece hashes is banned; the fetch still ends correct", async () => {
    const size = 4 * MiB;
    const good = path.join(root, "seed-good");
    const bad = path.join(root, "seed-bad");
    const { file, sha256 } = randomFile(good, "api.bin", size);
    const torrent = await makeTorrent(file, tracker.announce, 64 * 1024);
    fs.mkdirSync(bad, { recursive: true });
    const data = fs.readFileSync(file);
    for (let off = 1000; off < size; off += 64 * 1024) data[off] = data[off]! ^ 0xff; // every piece wrong
    fs.writeFileSync(path.join(bad, "api.bin"), data);
    await seeder(bad, torrent, { trustDisk: true });
    await seeder(good, torrent, { uploadRate: 1 * MiB });
    const a = await fetcher("agent-tamper");
    const entry = await a.f.fetch(request("api@2", sha256, torrent, size));
    assert.equal(await sha256File(a.f.cache.artifactPath(entry)), sha256);
    assert.equal(a.f.bannedPeers("api@2"), 1);
  });

  test("a corrupted cache file is detected before use and fetched again; a truncated one at start", async () => {
    const size = 2 * MiB;
    const src = path.join(root, "seed-c");
    const { file, sha256 } = randomFile(src, "job.bin", size);
    const torrent = await makeTorrent(file, tracker.announce, 64 * 1024);
    await seeder(src, torrent);
    const req = request("job@3", sha256, torrent, size);
    const first = await fetcher("agent-c");
    const entry = await first.f.fetch(req);
    const cached = first.f.cache.artifactPath(entry);
    const fd = fs.openSync(cached, "r+");
    fs.writeSync(fd, Buffer.from("garbage"), 0, 7, 100_000);
    fs.closeSync(fd);
    const sandbox = path.join(root, "sandbox-c");
    await first.f.prepare(req, sandbox);
    assert.equal(await sha256File(cached), sha256);
    assert.equal(await sha256File(path.join(sandbox, "job.bin")), sha256);
    assert.ok(first.events.filter((e) => e.state === "DONE").length >= 2);
    await first.stop();

    fs.truncateSync(cached, 1_000_000);
    const second = await fetcher("agent-c");
    assert.deepEqual(second.f.cached(), [], "an unverified file is not reported as cached");
    await waitFor(() => second.events.some((e) => e.state === "DONE"));
    assert.equal(await sha256File(cached), sha256);
    const received = second.f.received("job@3");
    assert.ok(received > 0 && received < size, `resumed: received ${received} of ${size} bytes`);
    assert.deepEqual(second.f.cached(), [{ release: "job@3", sha256, size }]);
  });

  test("an agent restarted mid-download resumes from the pieces on disk", async () => {
    const size = 6 * MiB;
    const src = path.join(root, "seed-d");
    const { file, sha256 } = randomFile(src, "big.bin", size);
    const torrent = await makeTorrent(file, tracker.announce, 64 * 1024);
    await seeder(src, torrent);
    const req = request("big@1", sha256, torrent, size);
    // Slow enough (6 s for the whole) that the stop lands mid-download even on a loaded machine.
    const first = await fetcher("agent-d", { downloadRate: 1 * MiB });
    first.f.fetch(req).catch(() => undefined);
    await waitFor(() => first.events.some((e) => e.state === "FETCHING" && e.downloaded >= 3 * MiB));
    await first.stop();
    const second = await fetcher("agent-d");
    await waitFor(() => second.events.some((e) => e.state === "DONE"));
    const received = second.f.received("big@1");
    // Of the 3 MiB received before the stop, the pieces still in flight or not yet written
    // (on a loaded machine, up to a few hundred KiB of 64 KiB pieces) are fetched again; at
    // least 1 MiB must come from the disk.
    assert.ok(received > 0 && received <= size - 1 * MiB, `second run received ${received} bytes`);
    assert.equal(await sha256File(second.f.cache.artifactPath(second.f.cache.get("big@1")!)), sha256);
  });

  test("eviction: LRU past the limit, never a pinned release, and refused while pinned", async () => {
    const src = path.join(root, "seed-e");
    const reqs = [];
    for (const name of ["e1", "e2", "e3"]) {
      const { file, sha256 } = randomFile(path.join(src, name), `${name}.bin`, 1 * MiB);
      const torrent = await makeTorrent(file, tracker.announce, 64 * 1024);
      await seeder(path.join(src, name), torrent);
      reqs.push(request(`${name}@1`, sha256, torrent, 1 * MiB));
    }
    const a = await fetcher("agent-e", { cacheSizeBytes: 2 * MiB });
    await a.f.fetch(reqs[0]!);
    await a.f.fetch(reqs[1]!);
    a.f.pin("e1@1", "task-1");
    await a.f.fetch(reqs[2]!);
    assert.deepEqual(
      a.f
        .cached()
        .map((c) => c.release)
        .sort(),
      ["e1@1", "e3@1"],
    );
    assert.ok(a.events.some((e) => e.release === "e2@1" && e.state === "EVICTED"));
    await assert.rejects(a.f.evict("e1@1"), /used by task\(s\) task-1/);
    a.f.unpin("e1@1", "task-1");
    await a.f.evict("e1@1");
    assert.deepEqual(
      a.f.cached().map((c) => c.release),
      ["e3@1"],
    );
    assert.equal(fs.existsSync(path.join(root, "agent-e", "e1@1")), false);
  });

  test("bad fetch requests fail with the field named", async () => {
    const a = await fetcher("agent-f");
    await assert.rejects(
      a.f.fetch(request("no-version", "ab", Buffer.from("x"), 1)),
      /release: "no-version" is not NAME@VERSION/,
    );
    await assert.rejects(a.f.fetch(request("x@1", "ab", Buffer.from("x"), 1)), /sha256: "ab" is not 64/);
    await assert.rejects(
      a.f.fetch(request("x@1", "a".repeat(64), Buffer.from("x"), 1, "zip")),
      /kind: "zip"/,
    );
    assert.equal(a.events.at(-1)?.state, "FAILED");
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
