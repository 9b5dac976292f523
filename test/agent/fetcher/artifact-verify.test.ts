import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { verifyArtifact } from "../../../agent/fetcher/artifact-verify.js";
import { randomFile, tempDir } from "./swarm-fixtures.js";

const dir = tempDir("yard-verify-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("verifyArtifact", () => {
  const size = 3 * 1024 * 1024 + 17;

  test("an intact file passes", async () => {
    const { file, sha256 } = randomFile(dir, "ok.bin", size);
    assert.deepEqual(await verifyArtifact(file, sha256, size), { ok: true });
  });

  test("one flipped byte is a mismatch", async () => {
    const { file, sha256 } = randomFile(dir, "flip.bin", size);
    const fd = fs.openSync(file, "r+");
    const b = Buffer.alloc(1);
    fs.readSync(fd, b, 0, 1, 2_000_000);
    b[0] = b[0]! ^ 0xff;
    fs.writeSync(fd, b, 0, 1, 2_000_000);
    fs.closeSync(fd);
    const r = await verifyArtifact(file, sha256, size);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.problem, "mismatch");
  });

  test("a truncated file is named as truncated", async () => {
    const { file, sha256 } = randomFile(dir, "short.bin", size);
    fs.truncateSync(file, size - 1000);
    const r = await verifyArtifact(file, sha256, size);
    assert.equal(!r.ok && r.problem, "truncated");
    assert.match(!r.ok ? r.detail : "", /has 3144745 bytes, the release has 3145745/);
  });

  test("a longer file and a missing file fail", async () => {
    const { file, sha256 } = randomFile(dir, "long.bin", size);
    fs.appendFileSync(file, "x");
    assert.equal((await verifyArtifact(file, sha256, size)).ok, false);
    const r = await verifyArtifact(`${dir}/nothing`, sha256, size);
    assert.equal(!r.ok && r.problem, "missing");
  });
});
