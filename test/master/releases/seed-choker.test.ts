import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { silentLogger } from "../../../common/logger.js";
import { type ChokerTorrent, type ChokerWire, SeedChoker } from "../../../master/releases/seed-choker.js";

/** A peer as webtorrent's Wire shows it to the choker: interest, choke state, bytes sent. */
class FakeWire extends EventEmitter implements ChokerWire {
  uploaded = 0;
  peerInterested = false;
  destroyed = false;
  amChoking = true;
  unchoke(): void {
    this.amChoking = false;
  }
  choke(): void {
    this.amChoking = true;
  }
  /** What webtorrent does when the peer says "interested": it unchokes it at once. */
  interested(): void {
    this.peerInterested = true;
    this.emit("interested");
    this.unchoke();
  }
}

function setUp(slots: number, maxHoldMs: number) {
  let now = 0;
  const torrent = new EventEmitter() as EventEmitter & ChokerTorrent;
  const choker = new SeedChoker({ slots, maxHoldMs }, silentLogger, () => now);
  choker.attach(torrent);
  const wires = Array.from({ length: 5 }, () => {
    const w = new FakeWire();
    torrent.emit("wire", w);
    return w;
  });
  return {
    choker,
    torrent,
    wires,
    advance(ms: number) {
      now += ms;
    },
    open: () => wires.map((w, i) => (w.amChoking ? -1 : i)).filter((i) => i >= 0),
  };
}

describe("seed choker", () => {
  test("only `slots` interested peers are unchoked; the others wait their turn", () => {
    const s = setUp(2, 10_000);
    for (const w of s.wires) w.interested();
    assert.deepEqual(s.open(), [0, 1]);
    assert.deepEqual(s.choker.counts(), { unchoked: 2, waiting: 3 });
    s.choker.stop();
  });

  test("webtorrent's own rechoke is replaced", () => {
    const s = setUp(2, 10_000);
    for (const w of s.wires) w.interested();
    s.torrent._rechoke?.();
    assert.deepEqual(s.open(), [0, 1]);
    s.choker.stop();
  });

  test("a peer that is done (uninterested) or gone frees its slot for the next in line", () => {
    const s = setUp(2, 10_000);
    for (const w of s.wires) w.interested();
    s.wires[0]!.peerInterested = false;
    s.wires[0]!.emit("uninterested");
    assert.deepEqual(s.open(), [1, 2]);
    s.wires[1]!.destroyed = true;
    s.wires[1]!.emit("close");
    assert.deepEqual(
      s.open().filter((i) => !s.wires[i]!.destroyed),
      [2, 3],
    );
    s.choker.stop();
  });

  test("a turn ends after maxHoldMs while others wait, and the peer queues again", () => {
    const s = setUp(2, 8000);
    for (const w of s.wires) w.interested();
    // Both holders keep downloading, so neither is idle; at 8 s their turns end.
    for (let t = 0; t < 4; t++) {
      s.advance(2000);
      for (const w of s.wires) if (!w.amChoking) w.uploaded += 1 << 20;
      s.choker.rotate();
    }
    assert.deepEqual(s.open(), [2, 3]);
    assert.deepEqual(s.choker.counts(), { unchoked: 2, waiting: 3 });
    s.choker.stop();
  });

  test("a holder that takes nothing during a tick gives its slot up early", () => {
    const s = setUp(2, 8000);
    for (const w of s.wires) w.interested();
    s.advance(2000);
    s.wires[0]!.uploaded += 1 << 20; // busy
    s.choker.rotate(); // wire 1 took nothing: wire 2 gets its slot
    assert.deepEqual(s.open(), [0, 2]);
    s.choker.stop();
  });

  test("with nobody waiting, a holder keeps its slot", () => {
    const s = setUp(5, 1000);
    for (const w of s.wires) w.interested();
    s.advance(60_000);
    s.choker.rotate();
    assert.deepEqual(s.open(), [0, 1, 2, 3, 4]);
    s.choker.stop();
  });

  test("peers that closed are forgotten; a removed torrent's choker holds nothing", () => {
    const s = setUp(2, 10_000);
    for (const w of s.wires) w.interested();
    assert.equal(s.choker.tracked(), 5);
    for (const w of s.wires.slice(0, 3)) {
      w.destroyed = true;
      w.emit("close");
    }
    assert.equal(s.choker.tracked(), 2);
    assert.deepEqual(s.choker.counts(), { unchoked: 2, waiting: 0 });
    // A late "interested" from a closed wire must not put it back.
    s.wires[0]!.emit("interested");
    assert.equal(s.choker.tracked(), 2);
    s.choker.stop();
    assert.equal(s.choker.tracked(), 0);
    assert.deepEqual(s.choker.counts(), { unchoked: 0, waiting: 0 });
  });
});
