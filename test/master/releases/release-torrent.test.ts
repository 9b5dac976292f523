import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, describe, test } from "node:test";
import {
  buildTorrent,
  choosePieceLength,
  MAX_PIECE_LENGTH,
  MIN_PIECE_LENGTH,
  parseTorrentFile,
  withAnnounce,
} from "../../../master/releases/release-torrent.js";
import { randomFile, removeDir, tempDir } from "./helpers.js";

const MiB = 1024 * 1024;

describe("piece length", () => {
  const cases: [string, number, number][] = [
    ["tiny release", 10, MIN_PIECE_LENGTH],
    ["64 MiB", 64 * MiB, MIN_PIECE_LENGTH],
    ["1 GiB", 1024 * MiB, MIN_PIECE_LENGTH],
    ["4 GiB", 4096 * MiB, 4 * MiB],
    ["100 GiB", 100 * 1024 * MiB, MAX_PIECE_LENGTH],
  ];
  for (const [name, size, expected] of cases) {
    test(name, () => assert.equal(choosePieceLength(size), expected));
  }
});

describe("release torrents", () => {
  const dir = tempDir("torrent");
  after(() => removeDir(dir));
  const announce = "http://127.0.0.1:7071/announce";

  test("a built torrent is a private single-file v1 torrent announcing only to the master", async () => {
    const size = 3 * MIN_PIECE_LENGTH + 1234;
    const { path } = randomFile(dir, "blob", size);
    const built = await buildTorrent(path, {
      fileName: "web-1.0.tar",
      size,
      announce,
      source: "yard:web@1.0",
    });
    const parsed = await parseTorrentFile(built.torrent);
    assert.equal(parsed.name, "web-1.0.tar");
    assert.equal(parsed.length, size);
    assert.equal(parsed.pieceLength, MIN_PIECE_LENGTH);
    assert.equal(parsed.pieces.length, 4);
    assert.equal(parsed.lastPieceLength, 1234);
    assert.equal(parsed.infoHash, built.infoHash);
    assert.match(parsed.infoHash, /^[0-9a-f]{40}$/);
    assert.deepEqual(parsed.announce, [announce]);
    assert.deepEqual(parsed.urlList, []);
    assert.equal(parsed.createdBy, "Yard");
    assert.equal(parsed.private, true);
    assert.equal(parsed.files.length, 1);
    // The info hash is the SHA-1 of the bencoded info dictionary, as BitTorrent v1 defines it.
    const raw = built.torrent;
    const start = raw.indexOf("4:infod") + "4:info".length;
    const info = raw.subarray(start, bencodeEnd(raw, start));
    assert.equal(createHash("sha1").update(info).digest("hex"), built.infoHash);
    // Every piece hash is the SHA-1 of that piece of the file.
    const bytes = readFileSync(path);
    parsed.pieces.forEach((h, i) => {
      const piece = bytes.subarray(i * MIN_PIECE_LENGTH, (i + 1) * MIN_PIECE_LENGTH);
      assert.equal(createHash("sha1").update(piece).digest("hex"), h, `piece ${i}`);
    });
  });

  test("the same bytes under two releases get two info hashes", async () => {
    const { path } = randomFile(dir, "same", 1000);
    const a = await buildTorrent(path, { fileName: "x", size: 1000, announce, source: "yard:a@1" });
    const b = await buildTorrent(path, { fileName: "x", size: 1000, announce, source: "yard:b@1" });
    assert.notEqual(a.infoHash, b.infoHash);
  });

  test("rewriting the announce URL keeps the info hash", async () => {
    const { path } = randomFile(dir, "moved", 5000);
    const built = await buildTorrent(path, { fileName: "f", size: 5000, announce, source: "yard:f@1" });
    const moved = await withAnnounce(built.torrent, "http://127.0.0.1:9999/announce");
    const parsed = await parseTorrentFile(moved);
    assert.equal(parsed.infoHash, built.infoHash);
    assert.deepEqual(parsed.announce, ["http://127.0.0.1:9999/announce"]);
    assert.equal(parsed.private, true);
  });

  test("several masters' trackers: one tier each, the leader's first, the same info hash", async () => {
    const { path } = randomFile(dir, "ha", 5000);
    const built = await buildTorrent(path, { fileName: "f", size: 5000, announce, source: "yard:ha@1" });
    const urls = [
      "https://10.0.0.2:7071/announce",
      "https://10.0.0.1:7071/announce",
      "https://10.0.0.3:7071/announce",
    ];
    const ha = await withAnnounce(built.torrent, urls);
    const parsed = await parseTorrentFile(ha);
    assert.equal(parsed.infoHash, built.infoHash);
    assert.deepEqual(parsed.announce, urls);
    const tiers = ha.subarray(ha.indexOf("13:announce-list") + "13:announce-list".length);
    assert.ok(tiers.toString("latin1").startsWith(`ll${urls[0]!.length}:${urls[0]}el`), "one URL per tier");
    assert.deepEqual(await withAnnounce(ha, urls), ha, "unchanged when it already announces there");
  });
});

/** Index just past the bencoded value that starts at `i`. */
function bencodeEnd(buf: Buffer, i: number): number {
  const c = String.fromCharCode(buf[i]!);
  if (c === "i") return buf.indexOf("e", i) + 1;
  if (c === "l" || c === "d") {
    let j = i + 1;
    while (buf[j] !== 0x65) j = bencodeEnd(buf, j);
    return j + 1;
  }
  const colon = buf.indexOf(":", i);
  return colon + 1 + Number(buf.subarray(i, colon).toString());
}
