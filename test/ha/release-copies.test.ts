// Releases survive the leader's disk: a real etcd member, a real leading master (its release
// store, tracker and seeder) and a standby's release replica fetching through the private swarm.
// A push returns only once the standby holds a verified copy (the file and its etcd key are
// there when it returns); with the standby down a push fails at its deadline naming the copies
// and the release stays, shown under-replicated, until the standby is back; removal deletes the
// standby's copy; an outsider, and a client with the wrong swarm key, get nothing from a standby.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Etcd3 } from "etcd3";
import { ReleaseClient } from "../../cli/commands/release.js";
import { silentLogger } from "../../common/logger.js";
import { forgedFetch } from "../swarm-forger.js";
import { startMaster, type MasterHandle } from "../../master/master-daemon.js";
import { CopyQuorum } from "../../master/releases/copy-quorum.js";
import { ReleaseCopies } from "../../master/releases/release-copies.js";
import { sharedSwarmKey } from "../../master/releases/shared-swarm-key.js";
import { type RunningReplica, startReleaseReplica } from "../../master/releases/start-release-replica.js";
import { type EtcdMember, startEtcd } from "../etcd-fixture.js";
import { pushFile, randomFile, removeDir, tempDir, waitFor } from "../master/releases/helpers.js";
import { tlsMaterial, tlsOf } from "../tls-fixture.js";

const PREFIX = "/yard";
const SIZE = 600_000;

interface StockWire {
  destroyed: boolean;
  on(event: "close", cb: () => void): void;
  on(event: "piece", cb: (index: number, offset: number, block: Uint8Array) => void): void;
}
interface StockTorrent {
  downloaded: number;
  ready: boolean;
  addPeer(addr: string): boolean;
  on(event: "wire", cb: (wire: StockWire) => void): void;
}
interface StockClient {
  peerId: string;
  add(torrent: Uint8Array, opts: { path: string }): StockTorrent;
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

/** Connects to `peer` for `torrent`; resolves the piece bytes received once the wire closed. */
async function tryPeer(
  client: StockClient,
  torrent: Uint8Array,
  dir: string,
  peer: string,
  guard?: (t: StockTorrent) => void,
): Promise<{ wires: number; received: number }> {
  const t = client.add(torrent, { path: dir });
  guard?.(t);
  let received = 0;
  let wires = 0;
  let closed = 0;
  t.on("wire", (w) => {
    wires++;
    w.on("piece", (_i, _o, block) => {
      received += block.length;
    });
    w.on("close", () => closed++);
  });
  await waitFor("the torrent to be ready", () => t.ready || undefined, 10_000);
  t.addPeer(peer);
  // The standby closes the connection once the peer failed to prove membership; a piece
  // arriving first is the failure.
  await waitFor(
    `the connection to ${peer} to be made and closed`,
    () => received > 0 || (wires > 0 && closed >= wires),
    30_000,
  );
  return { wires, received: received + t.downloaded };
}

describe("releases in HA: copies on the standbys", () => {
  const dir = tempDir("ha-release-copies");
  let etcd: EtcdMember;
  const clients: Etcd3[] = [];
  let leaderCopies: ReleaseCopies;
  let standbyCopies: ReleaseCopies;
  let quorum: CopyQuorum;
  let leader: MasterHandle;
  let replica: RunningReplica | undefined;
  let swarmKey: Buffer;
  let push: ReleaseClient;
  const leaderData = join(dir, "m1");
  const standbyData = join(dir, "m2");
  const one = randomFile(dir, "one.bin", SIZE);
  const two = randomFile(dir, "two.bin", SIZE);

  const client = () => {
    const c = new Etcd3({ hosts: etcd.endpoint });
    clients.push(c);
    return c;
  };
  const copyKey = async (release: string, master: string) =>
    client().get(`${PREFIX}/release-copies/${release}/${master}`).string();

  async function startStandby(): Promise<RunningReplica> {
    return startReleaseReplica({
      masterId: "m2",
      dataDir: standbyData,
      swarmKey,
      tls: tlsMaterial("master"),
      copies: standbyCopies,
      // The standby's warm registry in a full HA master; here the leader's registry itself.
      releases: () => leader.releases.list(),
      trackers: () => [`https://127.0.0.1:${leader.httpPort}/announce`],
      listenHost: "127.0.0.1",
      retryMs: 200,
      logger: silentLogger,
    });
  }

  before(async () => {
    etcd = await startEtcd();
    // Both masters of the cluster ask at once: one creates the key, both read the same one.
    const [a, b] = await Promise.all([sharedSwarmKey(client(), PREFIX), sharedSwarmKey(client(), PREFIX)]);
    assert.ok(a.equals(b), "one swarm key for the cluster");
    swarmKey = a;
    leaderCopies = await ReleaseCopies.open({ client: client(), prefix: PREFIX, logger: silentLogger });
    standbyCopies = await ReleaseCopies.open({ client: client(), prefix: PREFIX, logger: silentLogger });
    quorum = new CopyQuorum(leaderCopies, silentLogger, { masterId: "m1", required: 1, timeoutMs: 120_000 });
    leader = await startMaster({
      ...tlsOf("master"),
      dataDir: leaderData,
      port: 0,
      httpPort: 0,
      logger: silentLogger,
      swarmKey,
      releaseReplication: quorum,
    });
    replica = await startStandby();
    push = new ReleaseClient({ address: leader.address, ...tlsOf("admin") });
  });

  after(async () => {
    push?.close();
    await replica?.stop();
    await leader?.stop();
    await leaderCopies?.close();
    await standbyCopies?.close();
    for (const c of clients) c.close();
    await etcd?.destroy();
    removeDir(dir);
  });

  test("a push returns once a standby holds a verified copy: its file and its etcd key are there", async () => {
    const res = await pushFile(push, "app@1.0", one.path, SIZE);
    // Nothing is awaited after the push: what it promised must hold at the moment it returns.
    const blob = join(standbyData, "releases", "blobs", one.sha256);
    assert.ok(existsSync(blob), "the standby's blob is in place when the push returns");
    assert.equal(createHash("sha256").update(readFileSync(blob)).digest("hex"), one.sha256);
    const key = JSON.parse((await copyKey("app@1.0", "m2")) ?? "{}") as {
      sha256?: string;
      infoHash?: string;
    };
    assert.equal(key.sha256, one.sha256);
    assert.equal(key.infoHash, res.release!.infoHash);
    assert.deepEqual(res.copies, { release: "app@1.0", copies: 1, required: 1, holders: ["m2"] });
    // The leader recorded its own copy too (with the torrent the standby fetched by).
    assert.ok(await copyKey("app@1.0", "m1"));
    // Where the release manager of the standby will look once it leads.
    const seedFile = join(standbyData, "releases", "seed", res.release!.infoHash, "app.bin");
    assert.ok(existsSync(seedFile));
    assert.ok(existsSync(join(standbyData, "releases", "torrents", `${res.release!.infoHash}.torrent`)));
    const listed = await push.list();
    assert.deepEqual(listed.copies, [{ release: "app@1.0", copies: 1, required: 1, holders: ["m2"] }]);
  });

  test("an outsider, and a client with the wrong swarm key, get no piece from a standby", async () => {
    const torrent = leaderCopies.get("app@1.0", "m1")!.torrent;
    const peer = `127.0.0.1:${replica!.fetcher.peerPort()}`;
    const refusedBefore = replica!.fetcher.swarmAuthCounts().refused;
    const outsider = await stockClient();
    try {
      const r = await tryPeer(outsider, torrent, join(dir, "outsider"), peer);
      assert.equal(r.wires, 1, "the connection was made");
      assert.equal(r.received, 0, "and no piece crossed it");
    } finally {
      await new Promise<void>((r) => outsider.destroy(() => r()));
    }
    const forged = await forgedFetch(torrent, join(dir, "forger"), [peer]);
    assert.equal(forged.connections, 1, "the forger's connection was made");
    assert.equal(forged.received, 0);
    assert.ok(replica!.fetcher.swarmAuthCounts().refused >= refusedBefore + 2, "the standby refused both");
  });

  test("with the standby down a push fails at its deadline naming the copies; the release stays until a standby holds it", async () => {
    await replica!.stop();
    replica = undefined;
    quorum.timeoutMs = 1500;
    await assert.rejects(pushFile(push, "app@2.0", two.path, SIZE), (err: Error) => {
      assert.match(
        err.message,
        /release app@2\.0 is stored on the leader, but 0 of the 1 standby copies required exist after 1\.5 s/,
      );
      return true;
    });
    const listed = await push.list();
    assert.deepEqual(
      listed.copies.find((c) => c.release === "app@2.0"),
      { release: "app@2.0", copies: 0, required: 1, holders: [] },
      "shown under-replicated",
    );
    // While it was down, a release it held was removed: its files are left over.
    const releasesDir = join(standbyData, "releases");
    const leftSha = "ab".repeat(32);
    const leftHash = "cd".repeat(20);
    writeFileSync(join(releasesDir, "blobs", leftSha), "left over");
    writeFileSync(join(releasesDir, "torrents", `${leftHash}.torrent`), "left over");
    mkdirSync(join(releasesDir, "seed", leftHash));
    writeFileSync(join(releasesDir, "seed", leftHash, "old.bin"), "left over");
    // The standby comes back (the same data dir): it copies what it lacks by itself.
    quorum.timeoutMs = 120_000;
    replica = await startStandby();
    await waitFor("the standby's copy of app@2.0", () => standbyCopies.get("app@2.0", "m2"), 60_000);
    const again = await pushFile(push, "app@2.0", two.path, SIZE);
    assert.equal(again.unchanged, true);
    assert.equal(again.copies?.copies, 1);
    // app@1.0 was not fetched again: the standby's restart found its copy in place.
    assert.ok(replica.replica.holds(leader.releases.list().find((r) => r.version === "1.0")!));
    // What no release and no copy key names is gone; what they name stays.
    await waitFor(
      "the leftovers to be deleted",
      () => !existsSync(join(releasesDir, "blobs", leftSha)),
      30_000,
    );
    await waitFor(
      "the leftover torrent to be deleted",
      () => !existsSync(join(releasesDir, "seed", leftHash)),
      30_000,
    );
    assert.equal(existsSync(join(releasesDir, "torrents", `${leftHash}.torrent`)), false);
    assert.ok(existsSync(join(releasesDir, "blobs", one.sha256)));
    assert.ok(existsSync(join(releasesDir, "blobs", two.sha256)));
  });

  test("removing a release deletes the standby's copy and every copy key", async () => {
    const infoHash = leader.releases.list().find((r) => r.version === "1.0")!.infoHash;
    await push.remove("app@1.0");
    const blob = join(standbyData, "releases", "blobs", one.sha256);
    await waitFor("the standby to drop app@1.0", () => !existsSync(blob), 30_000);
    assert.equal(existsSync(join(standbyData, "releases", "seed", infoHash)), false);
    assert.equal(existsSync(join(standbyData, "releases", "replica", "app@1.0")), false);
    assert.equal(await copyKey("app@1.0", "m1"), null);
    assert.equal(await copyKey("app@1.0", "m2"), null);
    // The other release is untouched.
    assert.ok(existsSync(join(standbyData, "releases", "blobs", two.sha256)));
  });
});
