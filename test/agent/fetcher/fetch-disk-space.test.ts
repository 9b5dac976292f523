// The fetcher on a small real disk (a tmpfs, needs root) with a real swarm on 127.0.0.1: a
// release that does not fit fails before a byte is written, naming need and free space; a
// fetch that fails midway (the disk filled under it) leaves no partial file; after a restart,
// a fetch that no longer fits is not resumed.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ArtifactFetcher, InsufficientSpaceError } from "../../../agent/fetcher/artifact-fetcher.js";
import { createLogger, silentLogger } from "../../../common/logger.js";
import type { FetchProgress } from "../../../proto/gen/yard/v1/agent.js";
import { SmallDisk } from "../../chaos/disk-helpers.js";
import {
  makeTorrent,
  randomFile,
  request,
  startSeeder,
  SWARM_KEY,
  SWARM_PASSKEY,
  startTracker,
  type Tracker,
  tempDir,
} from "./swarm-fixtures.js";

const MiB = 1024 * 1024;
const root = tempDir("yard-fetch-space-");
let tracker: Tracker;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  tracker = await startTracker();
});
after(async () => {
  for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => undefined);
  await tracker.close();
  fs.rmSync(root, { recursive: true, force: true });
});

function smallDisk(name: string, mib: number): SmallDisk {
  const d = new SmallDisk(path.join(root, name), mib);
  cleanups.push(() => d.unmount());
  return d;
}

async function fetcher(
  cacheDir: string,
  init: Partial<ConstructorParameters<typeof ArtifactFetcher>[1]> = {},
) {
  const events: FetchProgress[] = [];
  const f = new ArtifactFetcher(
    { onProgress: (p) => events.push(p) },
    {
      cacheDir,
      listenHost: "127.0.0.1",
      logger: process.env.YARD_TEST_LOG ? createLogger("fetcher") : silentLogger,
      progressIntervalMs: 100,
      diskReserveMiB: 1,
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

async function release(name: string, size: number, uploadRate?: number) {
  const src = path.join(root, `seed-${name}`);
  const { file, sha256 } = randomFile(src, `${name}.bin`, size);
  const torrent = await makeTorrent(file, tracker.announce, 64 * 1024);
  const s = await startSeeder(src, torrent, { uploadRate });
  cleanups.push(s.close);
  return request(`${name}@1`, sha256, torrent, size);
}

describe("fetches and free disk space", () => {
  test("a release bigger than the disk fails at once, naming need and free space, and leaves nothing", async () => {
    const disk = smallDisk("disk-a", 8);
    const req = await release("huge", 16 * MiB);
    const a = await fetcher(path.join(disk.dir, "cache"));
    const err = await a.f.fetch(req).then(
      () => assert.fail("the fetch should fail"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof InsufficientSpaceError, String(err));
    assert.match(
      err.message,
      /^not enough disk space for release huge@1: needs 16\.0 MiB plus a reserve of 1\.0 MiB, has \d+\.\d MiB free$/,
    );
    const last = a.events.at(-1)!;
    assert.equal(last.state, "FAILED");
    assert.equal(last.error, err.message);
    assert.ok(!a.events.some((e) => e.state === "FETCHING"), "nothing was downloaded");
    assert.deepEqual(fs.readdirSync(path.join(disk.dir, "cache")), []);
  });

  test("a fetch that fails midway because the disk filled under it leaves no partial file", async () => {
    const disk = smallDisk("disk-b", 12);
    const req = await release("mid", 6 * MiB, 1 * MiB);
    const a = await fetcher(path.join(disk.dir, "cache"), { stallTimeoutMs: 2000, maxAttempts: 1 });
    const fetching = a.f.fetch(req);
    await waitFor(() => a.events.some((e) => e.state === "FETCHING" && e.downloaded >= 1 * MiB));
    disk.fill();
    await assert.rejects(fetching, /fetch of mid@1 failed/);
    assert.equal(a.events.at(-1)?.state, "FAILED");
    assert.deepEqual(fs.readdirSync(path.join(disk.dir, "cache")), []);
    disk.free();
  });

  test("after a restart, a fetch that no longer fits is not resumed: it fails and its pieces go", async () => {
    const disk = smallDisk("disk-c", 12);
    const req = await release("resume", 6 * MiB, 1 * MiB);
    const cacheDir = path.join(disk.dir, "cache");
    const first = await fetcher(cacheDir);
    first.f.fetch(req).catch(() => undefined);
    await waitFor(() => first.events.some((e) => e.state === "FETCHING" && e.downloaded >= 1 * MiB));
    await first.stop();
    assert.ok(fs.existsSync(path.join(cacheDir, "resume@1", "data")), "the stopped fetch kept its pieces");
    disk.fill();
    const second = await fetcher(cacheDir);
    await waitFor(() => second.events.some((e) => e.state === "FAILED"));
    const failed = second.events.find((e) => e.state === "FAILED")!;
    assert.match(failed.error, /^not enough disk space for release resume@1: needs \d+\.\d MiB/);
    assert.ok(!second.events.some((e) => e.state === "FETCHING"), "the fetch was not resumed");
    assert.deepEqual(fs.readdirSync(cacheDir), []);
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}
