// Yard's swarm engine against real sockets on 127.0.0.1, a real bittorrent-tracker and the
// published webtorrent client: Yard peers and a stock client share one torrent (Yard peers
// trade whole pieces with each other, 16 KiB blocks with the stock client, every copy ends
// byte-exact), and a peer that speaks nonsense loses its connection while the engine goes on.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../../common/logger.js";
import { SwarmEngine } from "../../../common/swarm/swarm-engine.js";
import type { TorrentSession } from "../../../common/swarm/torrent-session.js";
import { downloadWithWebtorrent, waitFor } from "../../master/releases/helpers.js";
import {
  makeTorrent,
  randomFile,
  SWARM_KEY,
  startTracker,
  type Tracker,
  tempDir,
} from "../../agent/fetcher/swarm-fixtures.js";

const PIECE = 256 * 1024;
const SIZE = 24 * PIECE + 12_345;

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

function engine(opts: { uploadLimit?: number } = {}): Promise<SwarmEngine> {
  return SwarmEngine.create({
    listenHost: "127.0.0.1",
    swarmKey: () => SWARM_KEY,
    // The stock client cannot prove membership: everything on this host is let in, as a grant does.
    admitWithoutProof: (address) => address === "127.0.0.1",
    log: silentLogger,
    ...opts,
  });
}

describe("swarm engine", () => {
  const dir = tempDir("swarm-engine-");
  let tracker: Tracker;
  let torrent: Buffer;
  let want: string;
  const engines: SwarmEngine[] = [];
  before(async () => {
    tracker = await startTracker();
    const f = randomFile(path.join(dir, "seed"), "release.bin", SIZE);
    want = f.sha256;
    torrent = await makeTorrent(f.file, tracker.announce, PIECE);
  });
  after(async () => {
    await Promise.all(engines.map((e) => e.destroy()));
    await tracker.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("Yard peers and a stock client share a torrent: whole pieces between Yard peers, 16 KiB blocks with the stock client", async () => {
    // A slow seed, so that the fetchers get most pieces from each other.
    const seed = await engine({ uploadLimit: 1024 * 1024 });
    engines.push(seed);
    const seeding = await seed.add(torrent, {
      path: path.join(dir, "seed"),
      skipVerify: true,
      superSeed: true,
    });
    assert.equal(seeding.done, true);
    const fetchers = [await engine(), await engine()];
    engines.push(...fetchers);
    const sessions: TorrentSession[] = [];
    for (const [i, e] of fetchers.entries())
      sessions.push(await e.add(torrent, { path: path.join(dir, `yard-${i}`) }));
    // Connections come and go (the stock client leaves once it is done): the links are sampled
    // while the transfers run, the last sample of each kept.
    const links = new Map<string, ReturnType<TorrentSession["peerStats"]>[number]>();
    const sample = () => {
      for (const [i, s] of [seeding, ...sessions].entries())
        for (const p of s.peerStats()) {
          // A connection replaced by another to the same peer starts counting again: keep the most.
          const seen = links.get(`${i}:${p.peerId}`);
          links.set(`${i}:${p.peerId}`, { ...p, downloaded: Math.max(p.downloaded, seen?.downloaded ?? 0) });
        }
    };
    let stockDone = false;
    const stock = downloadWithWebtorrent(torrent, path.join(dir, "stock"), 60_000).finally(() => {
      stockDone = true;
    });
    await waitFor(
      "the Yard fetches and the stock client to finish",
      () => {
        sample();
        return (stockDone && sessions.every((s) => s.done)) || undefined;
      },
      60_000,
    );
    const stockFile = await stock;

    for (const i of [0, 1]) assert.equal(sha256(path.join(dir, `yard-${i}`, "release.bin")), want);
    assert.equal(sha256(stockFile), want, "the stock client's copy is exact");

    const yardIds = new Set([seed.peerId, ...fetchers.map((f) => f.peerId)]);
    let yardLinks = 0;
    let stockLinks = 0;
    for (const p of links.values()) {
      if (yardIds.has(p.peerId)) {
        yardLinks++;
        assert.equal(p.yard, true);
        assert.equal(p.blockBytes, PIECE, "between Yard peers a block is a whole piece");
      } else {
        stockLinks++;
        assert.equal(p.yard, false);
        assert.equal(p.blockBytes, 16 * 1024, "a standard client gets standard blocks");
      }
    }
    assert.ok(yardLinks >= 2, `Yard peers traded with each other (${yardLinks} links)`);
    assert.ok(stockLinks >= 1, "the stock client was in the swarm");
    const fromPeers = [...links.entries()].filter(
      ([k, p]) => !k.startsWith("0:") && p.peerId !== seed.peerId,
    );
    assert.ok(
      fromPeers.some(([, p]) => p.downloaded > 0),
      "the fetchers got pieces from peers other than the seed",
    );
  });

  test("a peer that sends nonsense loses its connection; the engine goes on serving", async () => {
    const seed = await engine();
    engines.push(seed);
    const s = await seed.add(torrent, { path: path.join(dir, "seed"), skipVerify: true });
    const port = seed.address()!.port;
    const infoHash = Buffer.from(s.infoHash, "hex");
    const handshake = (hash: Buffer) => {
      const b = Buffer.alloc(68);
      b.write("\x13BitTorrent protocol", 0, "latin1");
      b[25] = 0x10;
      hash.copy(b, 28);
      randomBytes(20).copy(b, 48);
      return b;
    };
    const msg = (id: number, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length + 1);
      head[4] = id;
      return Buffer.concat([head, body]);
    };
    const u32 = (...n: number[]) => {
      const b = Buffer.alloc(4 * n.length);
      for (const [i, v] of n.entries()) b.writeUInt32BE(v, 4 * i);
      return b;
    };
    /** Connects, shakes hands, sends `bytes`; resolves what came back once the engine closed the connection. */
    const attempt = (bytes: Buffer, hash = infoHash) =>
      new Promise<Buffer>((resolve, reject) => {
        const c = net.connect(port, "127.0.0.1");
        const got: Buffer[] = [];
        c.on("data", (d) => got.push(d));
        c.on("error", () => undefined);
        c.on("close", () => resolve(Buffer.concat(got)));
        c.on("connect", () => c.write(Buffer.concat([handshake(hash), bytes])));
        setTimeout(() => reject(new Error("the engine kept the connection open")), 20_000).unref();
      });
    const cases: [string, Buffer][] = [
      ["a message longer than any block", Buffer.from([0x7f, 0xff, 0xff, 0xff])],
      ["a have of a piece the torrent lacks", msg(4, u32(9999))],
      ["a request past the piece's end", msg(6, u32(0, PIECE - 10, 16 * 1024))],
      ["a bitfield too short", msg(5, Buffer.alloc(1))],
      ["an extended handshake that is not bencoded", msg(20, Buffer.from([0, 0x78, 0x79]))],
    ];
    for (const [what, bytes] of cases) {
      const back = await attempt(bytes);
      assert.ok(back.length >= 68, `${what}: the engine answered the handshake before closing`);
    }
    const stranger = await attempt(Buffer.alloc(0), randomBytes(20));
    assert.equal(stranger.length, 0, "a handshake for another torrent is closed unanswered");

    // Still serving: a fetcher gets the whole release from it.
    const fetcher = await engine();
    engines.push(fetcher);
    const t = await fetcher.add(torrent, { path: path.join(dir, "after-nonsense") });
    t.addPeers([{ host: "127.0.0.1", port }]);
    await waitFor("the fetch after the nonsense", () => t.done || undefined, 30_000);
    assert.equal(sha256(path.join(dir, "after-nonsense", "release.bin")), want);
  });
});
