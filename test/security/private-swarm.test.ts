// The private swarm, attacked against real daemons (a master and two agents as processes on
// 127.0.0.1): a scrape without credentials reveals no info hash; an announce without or with
// a wrong passkey is refused; a stock BitTorrent client, and one that speaks Yard's handshake
// with the wrong key, get no piece from the master's seed nor from an agent; an expired grant
// and a grant for another host are refused; the agents' peer ports are not bound to every
// interface. The members themselves fetch through the same swarm meanwhile (the positive
// side), and a live grant lets the stock client in (test/master/releases/interop.test.ts too).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { get as httpsGet } from "node:https";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { forgedFetch } from "../swarm-forger.js";
import { parseTorrentFile } from "../../master/releases/release-torrent.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { tlsMaterial } from "../tls-fixture.js";

const SIZE = 3 * 1024 * 1024;

interface StockWire {
  peerId: string;
  destroyed: boolean;
  on(event: "close", cb: () => void): void;
  on(event: "piece", cb: (index: number, offset: number, block: Uint8Array) => void): void;
}
interface StockTorrent {
  infoHash: string;
  downloaded: number;
  received: number;
  ready: boolean;
  addPeer(addr: string): boolean;
  on(event: "wire", cb: (wire: StockWire) => void): void;
  on(event: "ready", cb: () => void): void;
}
interface StockClient {
  peerId: string;
  add(torrent: Uint8Array, opts: { path: string }, cb?: (t: StockTorrent) => void): StockTorrent;
  destroy(cb: () => void): void;
}

/** The published webtorrent package, as an outsider runs it: TCP only, no tracker, no DHT. */
async function stockClient(): Promise<StockClient> {
  const name = "webtorrent";
  const WebTorrent = ((await import(name)) as { default: new (o: object) => StockClient }).default;
  return new WebTorrent({
    dht: false,
    lsd: false,
    utp: false,
    natUpnp: false,
    natPmp: false,
    webSeeds: false,
    tracker: false,
    torrentPort: 0,
  });
}

/**
 * Connects `client` to each of `peers` for `torrent` and waits until every connection was made
 * (a wire: the BitTorrent handshake went through) and closed again. Resolves the bytes of
 * piece data received. `guard` is applied to the torrent first (a client that speaks the extension).
 */
async function tryPeers(
  client: StockClient,
  torrent: Uint8Array,
  dir: string,
  peers: string[],
  guard?: (t: StockTorrent) => void,
): Promise<{ wires: number; received: number }> {
  const t = client.add(torrent, { path: dir });
  guard?.(t);
  let received = 0;
  const wires: StockWire[] = [];
  let closed = 0;
  t.on("wire", (w) => {
    wires.push(w);
    w.on("piece", (_index, _offset, block) => {
      received += block.length;
    });
    w.on("close", () => closed++);
  });
  await waitFor("the torrent to be ready", () => t.ready || undefined, 10_000);
  for (const p of peers) t.addPeer(p);
  // webtorrent connects to each address once; the answer is known when every wire has closed
  // (or as soon as a piece arrived: that is the failure).
  await waitFor(
    `connections to ${peers.join(", ")} to be made and closed`,
    () => received > 0 || (wires.length >= peers.length && closed >= wires.length),
    20_000,
  );
  return { wires: wires.length, received: received + t.downloaded };
}

/** Listening TCP sockets of a process, as "address:port" (from /proc: no tool needed). */
function listeningSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // closed meanwhile
    }
  }
  const out: string[] = [];
  for (const file of ["tcp", "tcp6"]) {
    const lines = fs.readFileSync(`/proc/${pid}/net/${file}`, "utf8").trim().split("\n").slice(1);
    for (const line of lines) {
      const cols = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = cols;
      if (state !== "0A" || !inodes.has(inode!)) continue; // 0A = LISTEN
      const [hex, port] = local!.split(":");
      out.push(`${hexAddress(hex!)}:${Number.parseInt(port!, 16)}`);
    }
  }
  return out;
}

function hexAddress(hex: string): string {
  if (hex.length === 8) {
    const b = Buffer.from(hex, "hex");
    return [b[3], b[2], b[1], b[0]].join(".");
  }
  if (/^0{32}$/.test(hex)) return "::";
  if (/^0{16}FFFF0000/i.test(hex)) return `::ffff:${hexAddress(hex.slice(24))}`;
  return hex;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * One tracker request, as an outsider makes it: over HTTPS, trusting the cluster CA, with no
 * client certificate. Resolves the body as latin1 (bencode).
 */
function trackerGet(httpPort: number, path: string, query: string): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet(
      {
        host: "127.0.0.1",
        port: httpPort,
        path: `${path}${query ? `?${query}` : ""}`,
        ca: tlsMaterial("admin").ca,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks).toString("latin1")));
      },
    ).on("error", reject);
  });
}

/** The info hash as an announce carries it: 20 raw bytes, percent-encoded. */
function rawHash(hex: string): string {
  return [...Buffer.from(hex, "hex")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("");
}

function announceQuery(infoHash: string, extra = ""): string {
  const peerId = rawHash(randomBytes(20).toString("hex"));
  return `info_hash=${rawHash(infoHash)}&peer_id=${peerId}&port=6881&uploaded=0&downloaded=0&left=${SIZE}&compact=1${extra}`;
}

describe("private swarm (master, 2 agents)", { timeout: 180_000 }, () => {
  const cluster = new TestCluster();
  const work = fs.mkdtempSync(join(cluster.root, "work-"));
  let seedPort = 0;
  let httpPort = 0;
  let infoHash = "";
  let plainTorrent = Buffer.alloc(0);
  const agentPeers: string[] = [];
  const clients: StockClient[] = [];

  async function newClient(): Promise<StockClient> {
    const c = await stockClient();
    clients.push(c);
    return c;
  }

  before(async () => {
    seedPort = await freePort();
    await cluster.startMaster(["--seed-port", String(seedPort)]);
    httpPort = JSON.parse(
      fs.readFileSync(join(cluster.root, "master-home", "master", "master.json"), "utf8"),
    ).httpPort;
    // No --peer-host: the agents choose the address toward the master themselves.
    for (let i = 0; i < 2; i++) await cluster.startAgent({ extraArgs: ["--peer-port", "0"] });
    await cluster.waitForAgents(2);
    const file = join(work, "secret.bin");
    fs.writeFileSync(file, randomBytes(SIZE));
    const push = await cluster.yardctl(["release", "push", "secret@1.0", file]);
    assert.equal(push.code, 0, push.stderr);
    infoHash = /info hash ([0-9a-f]{40})/.exec(push.stdout)![1]!;
    // The members fetch through the private swarm: passkeys and handshakes work for them.
    const stage = await cluster.yardctl(["release", "stage", "secret@1.0", "--watch"], 60_000);
    assert.equal(stage.code, 0, `${stage.stdout}\n${stage.stderr}`);
    assert.match(stage.stdout, /2\/2 agents hold it \(complete\)/);
    const exported = await cluster.yardctl([
      "release",
      "torrent",
      "secret@1.0",
      "-o",
      join(work, "plain.torrent"),
    ]);
    assert.equal(exported.code, 0, exported.stderr);
    plainTorrent = fs.readFileSync(join(work, "plain.torrent"));
    for (const a of cluster.agents) {
      const sockets = await waitFor("the agent's peer listener", () => {
        const s = listeningSockets(a!.child.pid!);
        return s.length > 0 && s;
      });
      agentPeers.push(sockets[0]!);
    }
  });

  after(async () => {
    await Promise.all(clients.map((c) => new Promise<void>((r) => c.destroy(() => r()))));
    await cluster.stop();
  });

  test("a scrape without credentials reveals no info hash", async () => {
    for (const query of [
      "",
      `info_hash=${rawHash(infoHash)}`,
      "passkey=0123456789abcdef0123456789abcdef01234567",
    ]) {
      const body = await trackerGet(httpPort, "/scrape", query);
      assert.equal(body, "d5:filesdee", `scrape ?${query}`);
      assert.ok(!body.includes(Buffer.from(infoHash, "hex").toString("latin1")));
    }
  });

  test("an announce without a passkey, or with a wrong one, is refused and lists no peer", async () => {
    for (const extra of ["", "&passkey=0123456789abcdef0123456789abcdef01234567", "&grant=forged.token"]) {
      const body = await trackerGet(httpPort, "/announce", announceQuery(infoHash, extra));
      assert.match(
        body,
        /failure reason.*not a member of this swarm/,
        `announce ${extra || "without credentials"}`,
      );
      assert.ok(!body.includes("5:peers"), "no peer list");
    }
  });

  test("a stock client given the torrent gets no piece from the seed nor from an agent", async () => {
    const parsed = await parseTorrentFile(plainTorrent);
    assert.equal(parsed.infoHash, infoHash);
    assert.equal(parsed.private, true, "BEP 27: no DHT, no peer exchange");
    const peers = [`127.0.0.1:${seedPort}`, ...agentPeers];
    const r = await tryPeers(await newClient(), plainTorrent, join(work, "stock"), peers);
    assert.equal(r.received, 0);
    assert.equal(r.wires, peers.length, "each peer took the connection (and then refused the client)");
  });

  test("a client that speaks the handshake with the wrong key gets no piece either", async () => {
    const peers = [`127.0.0.1:${seedPort}`, ...agentPeers];
    const r = await forgedFetch(plainTorrent, join(work, "forger"), peers);
    assert.equal(r.received, 0);
    assert.equal(r.connections, peers.length);
  });

  test("an expired grant and a grant for another host are refused", async () => {
    const other = await cluster.yardctl([
      "release",
      "torrent",
      "secret@1.0",
      "--grant",
      "192.0.2.7",
      "-o",
      join(work, "other.torrent"),
    ]);
    assert.equal(other.code, 0, other.stderr);
    const short = await cluster.yardctl([
      "release",
      "torrent",
      "secret@1.0",
      "--grant",
      "127.0.0.1",
      "--ttl",
      "1s",
      "-o",
      join(work, "short.torrent"),
    ]);
    assert.equal(short.code, 0, short.stderr);
    const until = Date.parse(/until (\S+)/.exec(short.stderr)![1]!);
    await waitFor("the short grant to expire", () => Date.now() > until + 50, 10_000);
    for (const name of ["other", "short"]) {
      const torrent = fs.readFileSync(join(work, `${name}.torrent`));
      const announce = new URL((await parseTorrentFile(torrent)).announce[0]!);
      const grant = announce.searchParams.get("grant")!;
      assert.ok(grant, `${name}: the torrent carries its grant`);
      const body = await trackerGet(
        httpPort,
        "/announce",
        announceQuery(infoHash, `&grant=${encodeURIComponent(grant)}`),
      );
      assert.match(body, /failure reason.*not a member/, `${name} grant: announce refused`);
      const r = await tryPeers(await newClient(), torrent, join(work, `${name}-dl`), [
        `127.0.0.1:${seedPort}`,
      ]);
      assert.equal(r.received, 0, `${name} grant: the seed sends nothing`);
      assert.equal(r.wires, 1);
    }
  });

  test("a live grant for this host lets the stock client fetch from the seed", async () => {
    const granted = await cluster.yardctl([
      "release",
      "torrent",
      "secret@1.0",
      "--grant",
      "127.0.0.1",
      "-o",
      join(work, "granted.torrent"),
    ]);
    assert.equal(granted.code, 0, granted.stderr);
    const torrent = fs.readFileSync(join(work, "granted.torrent"));
    const grant = new URL((await parseTorrentFile(torrent)).announce[0]!).searchParams.get("grant")!;
    const body = await trackerGet(
      httpPort,
      "/announce",
      announceQuery(infoHash, `&grant=${encodeURIComponent(grant)}`),
    );
    assert.match(body, /5:peers/, "the tracker answers the granted host");
    const client = await newClient();
    const t = client.add(torrent, { path: join(work, "granted-dl") });
    await waitFor("t ready", () => t.ready || undefined, 10_000);
    t.addPeer(`127.0.0.1:${seedPort}`);
    await waitFor("the granted download", () => t.downloaded === SIZE, 60_000);
  });

  test("the agents' peer ports are bound to the address toward the master, not every interface", () => {
    for (const a of cluster.agents) {
      const sockets = listeningSockets(a!.child.pid!);
      assert.ok(sockets.length > 0, "the agent listens for peers");
      for (const s of sockets) assert.match(s, /^127\.0\.0\.1:\d+$/, `agent socket ${s}`);
    }
  });
});
