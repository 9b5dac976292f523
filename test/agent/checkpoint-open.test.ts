// Opening the checkpoint on a real full disk (a 4 MiB tmpfs): SQLite cannot open it at all
// there. A partial fetch of the agent's own is removed to make room; space held by anything
// else gives a clear error naming the free space.
import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Checkpoint } from "../../agent/checkpoint.js";
import { openCheckpoint } from "../../agent/checkpoint-open.js";
import { ArtifactCache } from "../../agent/fetcher/artifact-cache.js";
import { silentLogger } from "../../common/logger.js";
import { fillToTheLastByte, SmallDisk } from "../chaos/disk-helpers.js";
import { tempDir } from "./helpers.js";

describe("opening the checkpoint on a full disk", () => {
  const root = tempDir("checkpoint-open");
  const disks: SmallDisk[] = [];
  after(() => {
    for (const d of disks) d.unmount();
    fs.rmSync(root, { recursive: true, force: true });
  });

  function fullDiskWithCheckpoint(name: string): SmallDisk {
    const disk = new SmallDisk(join(root, name), 4);
    disks.push(disk);
    const c = new Checkpoint(disk.dir);
    c.setAgentId("agent-1");
    c.close();
    return disk;
  }

  test("a partial fetch filling the disk is removed, and the checkpoint opens", () => {
    const disk = fullDiskWithCheckpoint("partial");
    const cacheDir = join(disk.dir, "cache");
    const cache = new ArtifactCache(cacheDir, silentLogger);
    const entry = {
      release: "big@1",
      sha256: "a".repeat(64),
      size: 300 * 1024 * 1024,
      kind: "file" as const,
      fileName: "big.bin",
      verified: false,
      lastUsed: 1,
    };
    cache.put(entry, Buffer.from("torrent"));
    // The fetch filled the disk: its partial file takes what is left.
    fillToTheLastByte(join(cacheDir, "big@1", "data", "big.bin"));
    assert.throws(() => new Checkpoint(disk.dir), { code: "SQLITE_IOERR_SHMSIZE" });

    const c = openCheckpoint(disk.dir, cacheDir, silentLogger);
    try {
      assert.equal(c.agentId(), "agent-1");
      c.setAgentId("agent-1");
    } finally {
      c.close();
    }
    assert.deepEqual(fs.readdirSync(cacheDir), []);
  });

  test("space held by something else: a clear error naming the free space", () => {
    const disk = fullDiskWithCheckpoint("other");
    disk.fill();
    assert.throws(
      () => openCheckpoint(disk.dir, join(disk.dir, "cache"), silentLogger),
      /the agent's checkpoint in .* cannot be opened \(disk I\/O error\): 0\.0 MiB of 4\.0 MiB free on its disk; free some space and start the agent again/,
    );
  });
});
