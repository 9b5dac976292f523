import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { OpenStreams, StreamWriter } from "../../common/stream-writer.js";

/** A server call whose client reads only when told to: what grpc-js shows a writer. */
class FakeCall<T> extends EventEmitter {
  readonly sent: T[] = [];
  readonly inFlight: { msg: T; cb?: () => void }[] = [];
  ended = false;
  errors: { code: number; details: string }[] = [];
  constructor(private readonly highWaterMark = 2) {
    super();
    this.on("error", (e) => this.errors.push(e));
  }
  write(msg: T, cb?: () => void): boolean {
    this.inFlight.push({ msg, cb });
    return this.inFlight.length < this.highWaterMark;
  }
  end(): void {
    this.ended = true;
  }
  /** The client reads everything in flight; the stream drains. */
  read(): void {
    const was = this.inFlight.length >= this.highWaterMark;
    for (const { msg, cb } of this.inFlight.splice(0)) {
      this.sent.push(msg);
      cb?.();
    }
    if (was) this.emit("drain");
  }
}

const nextTurn = () => new Promise((r) => setImmediate(r));

describe("StreamWriter", () => {
  test("queue mode: holds up to maxMessages for a client that does not read, then ends with RESOURCE_EXHAUSTED", async () => {
    const call = new FakeCall<number>();
    const w = new StreamWriter<number>(call, { maxMessages: 3, tooSlow: (n) => `too slow: ${n} behind` });
    assert.equal(w.write(1), true);
    assert.equal(w.write(2), true);
    assert.equal(w.behind, true);
    assert.equal(w.write(3), true);
    assert.equal(w.write(4), false);
    assert.equal(w.open, false);
    assert.equal(w.write(5), false);
    await nextTurn();
    assert.deepEqual(call.errors, [
      { code: status.RESOURCE_EXHAUSTED, details: "too slow: 3 behind", message: "too slow: 3 behind" },
    ]);
    assert.equal(call.inFlight.length, 3);
  });

  test("queue mode: a client that reads is never dropped, however much is written", () => {
    const call = new FakeCall<number>();
    const w = new StreamWriter<number>(call, { maxMessages: 3 });
    for (let i = 0; i < 100; i++) {
      assert.equal(w.write(i), true);
      if (w.behind) call.read();
    }
    call.read();
    assert.equal(call.sent.length, 100);
    assert.deepEqual(w.pending(), { messages: 0, bytes: 0 });
  });

  test("queue mode: the byte bound counts what waits, and the first message always goes", async () => {
    const call = new FakeCall<Buffer>(100);
    const w = new StreamWriter<Buffer>(call, { maxBytes: 10, sizeOf: (b) => b.length });
    assert.equal(w.write(Buffer.alloc(50)), true);
    call.read();
    assert.equal(w.write(Buffer.alloc(6)), true);
    assert.equal(w.write(Buffer.alloc(4)), true);
    assert.equal(w.write(Buffer.alloc(1)), false);
    await nextTurn();
    assert.equal(call.errors[0]?.code, status.RESOURCE_EXHAUSTED);
  });

  test("latest mode: a client behind gets only the newest snapshot when it drains, and is never dropped", () => {
    const call = new FakeCall<string>(1);
    const drained: number[] = [];
    const w = new StreamWriter<string>(call, { mode: "latest", onDrain: () => drained.push(1) });
    w.write("a");
    assert.equal(w.behind, true);
    for (let i = 0; i < 5000; i++) assert.equal(w.write(`b${i}`), true);
    call.read();
    assert.deepEqual(call.sent, ["a"]);
    assert.deepEqual(
      call.inFlight.map((f) => f.msg),
      ["b4999"],
    );
    w.end();
    call.read();
    assert.deepEqual(call.sent, ["a", "b4999"]);
    assert.equal(call.ended, true);
  });

  test("end() sends the held snapshot first", () => {
    const call = new FakeCall<string>(1);
    const w = new StreamWriter<string>(call, { mode: "latest" });
    w.write("a");
    w.write("b");
    w.write("c");
    w.end();
    assert.deepEqual(
      call.inFlight.map((f) => f.msg),
      ["a", "c"],
    );
    assert.equal(call.ended, true);
  });

  test("OpenStreams ends every open stream with UNAVAILABLE and forgets the finished ones", () => {
    const streams = new OpenStreams();
    const a = new FakeCall<number>();
    const b = new FakeCall<number>();
    const c = new FakeCall<number>();
    new StreamWriter<number>(a, { openStreams: streams });
    new StreamWriter<number>(b, { openStreams: streams });
    new StreamWriter<number>(c, { openStreams: streams }).end();
    assert.equal(streams.size, 2);
    streams.endAll("shutting down");
    assert.equal(streams.size, 0);
    for (const call of [a, b]) assert.equal(call.errors[0]?.code, status.UNAVAILABLE);
    assert.equal(c.errors.length, 0);
  });
});
