// The peer wire's framing (common/swarm/peer-wire.ts): messages come out whole and in order
// however the bytes are cut into reads, a block is handed over in a pooled buffer that is not
// the reused read buffer, and a malformed message closes the connection with a reason.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type net from "node:net";
import { describe, test } from "node:test";
import { BufferPool } from "../../../common/swarm/buffer-pool.js";
import { PeerWire, type WireHandler } from "../../../common/swarm/peer-wire.js";

/** A socket that records what the wire writes and is fed by the test. */
function fakeSocket(): net.Socket & { written: Buffer[] } {
  const s = new EventEmitter() as unknown as net.Socket & { written: Buffer[] };
  s.written = [];
  Object.assign(s, {
    remoteAddress: "192.0.2.1",
    remotePort: 6881,
    resume: () => s,
    pause: () => s,
    cork: () => undefined,
    uncork: () => undefined,
    destroy: () => s,
    write: (b: Buffer, cb?: () => void) => {
      s.written.push(Buffer.from(b));
      cb?.();
      return true;
    },
  });
  return s;
}

function message(id: number, ...rest: (number | Buffer)[]): Buffer {
  const parts = rest.map((r) => {
    if (Buffer.isBuffer(r)) return r;
    const b = Buffer.alloc(4);
    b.writeUInt32BE(r);
    return b;
  });
  const body = Buffer.concat([Buffer.from([id]), ...parts]);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

function recorder(): { events: string[]; closed: string[]; handler: WireHandler } {
  const events: string[] = [];
  const closed: string[] = [];
  const handler: WireHandler = {
    choke: () => events.push("choke"),
    unchoke: () => events.push("unchoke"),
    interested: (yes) => events.push(`interested ${yes}`),
    have: (p) => events.push(`have ${p}`),
    bitfield: (b) => events.push(`bitfield ${Buffer.from(b).toString("hex")}`),
    haveAll: () => events.push("have-all"),
    haveNone: () => events.push("have-none"),
    request: (p, b, l) => events.push(`request ${p} ${b} ${l}`),
    piece: (p, b, block, owner) => {
      assert.ok(owner.length >= block.length + 9, "the block lies in its pooled owner");
      events.push(`piece ${p} ${b} ${block.length} ${block[0]}-${block[block.length - 1]}`);
    },
    cancel: (p, b, l) => events.push(`cancel ${p} ${b} ${l}`),
    reject: (p, b, l) => events.push(`reject ${p} ${b} ${l}`),
    extendedHandshake: (d) => events.push(`ext-handshake ${Object.keys(d).sort().join(",")}`),
    extended: (name, payload) => events.push(`ext ${name} ${payload.toString("hex")}`),
    closed: (reason) => closed.push(reason),
  };
  return { events, closed, handler };
}

function wire(maxBlockBytes = 1 << 20): { w: PeerWire; socket: ReturnType<typeof fakeSocket> } {
  const socket = fakeSocket();
  const w = new PeerWire({
    socket,
    onStart: () => Buffer.alloc(0),
    remote: { infoHash: "00".repeat(20), peerId: "11".repeat(20), extensions: true, fast: true },
    maxBlockBytes,
    extensions: { yard_auth: 1 },
    pool: new BufferPool(),
  });
  return { w, socket };
}

describe("peer wire framing", () => {
  const block = Buffer.alloc(300_000);
  for (let i = 0; i < block.length; i++) block[i] = i % 251;
  const stream = Buffer.concat([
    message(1),
    message(2),
    message(4, 7),
    message(5, Buffer.from([0xf0, 0x80])),
    message(6, 3, 16384, 16384),
    message(7, 3, 0, block),
    message(20, Buffer.from([0]), Buffer.from("d1:md9:yard_authi1eee")),
    message(20, Buffer.from([1]), Buffer.from("beef", "hex")),
    Buffer.alloc(4), // keep-alive
    message(16, 1, 2, 3),
    message(14),
    message(0),
  ]);
  const expected = [
    "unchoke",
    "interested true",
    "have 7",
    "bitfield f080",
    "request 3 16384 16384",
    "piece 3 0 300000 0-54",
    "ext-handshake m",
    "ext yard_auth beef",
    "reject 1 2 3",
    "have-all",
    "choke",
  ];

  for (const size of [1, 3, 4, 5, 13, 1000, 65536, stream.length]) {
    test(`the same messages in the same order with reads of ${size} bytes`, () => {
      const { w } = wire();
      const r = recorder();
      w.start(r.handler);
      // One read buffer, reused and scribbled over after each read, as the engine's is.
      const readBuffer = Buffer.alloc(size);
      for (let at = 0; at < stream.length; at += size) {
        const n = Math.min(size, stream.length - at);
        stream.copy(readBuffer, 0, at, at + n);
        w.receive(readBuffer.subarray(0, n));
        readBuffer.fill(0xee);
      }
      assert.deepEqual(r.events, expected);
      assert.deepEqual(r.closed, []);
      assert.equal(w.peerChoking, true);
      assert.equal(w.peerInterested, true);
      assert.deepEqual(w.peerExtensions, { yard_auth: 1 });
    });
  }

  const bad: [string, Buffer, RegExp][] = [
    ["a length past the largest block", Buffer.from([0x7f, 0xff, 0xff, 0xff]), /more than the largest block/],
    ["a have without its index", message(4), /expected 5/],
    ["a request of the wrong size", message(6, 1, 2), /expected 13/],
    [
      "an extended handshake that is not bencoded",
      message(20, Buffer.from([0]), Buffer.from("xyz")),
      /not bencoded/,
    ],
    [
      "an extended handshake that is a list",
      message(20, Buffer.from([0]), Buffer.from("le")),
      /not a dictionary/,
    ],
    ["a piece without its header", message(7, Buffer.from([1, 2])), /without its header/],
  ];
  for (const [what, bytes, reason] of bad) {
    test(`${what} closes the connection with a reason`, () => {
      const { w } = wire(64 * 1024);
      const r = recorder();
      w.start(r.handler);
      w.receive(Buffer.concat([message(1), bytes, message(0)]));
      assert.deepEqual(r.events, ["unchoke"], "nothing after the bad message is taken");
      assert.equal(r.closed.length, 1);
      assert.match(r.closed[0]!, reason);
      assert.equal(w.closed, true);
    });
  }

  test("a block is sent as one piece message and resolves once written", async () => {
    const { w, socket } = wire();
    w.start(recorder().handler);
    await w.piece(5, 16384, Buffer.from("abc"));
    const out = Buffer.concat(socket.written);
    assert.deepEqual(out, message(7, 5, 16384, Buffer.from("abc")));
  });
});
