// Calls held while a master takes over (master/ha/held-calls.ts) and the gate that holds them
// (master/ha/service-gate.ts): nothing refused during a takeover, the frameworks' calls first,
// a few per turn of the event loop, and a bounded wait.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { HeldCalls } from "../../master/ha/held-calls.js";
import { gatedService } from "../../master/ha/service-gate.js";

/** Resolves after the current turn of the event loop and the I/O phase after it. */
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

describe("HeldCalls", () => {
  test("nothing is held unless a takeover began", () => {
    assert.equal(new HeldCalls({ maxWaitMs: 1_000 }).wait(0), undefined);
  });

  test("held calls go on at release: lower priority first, then in order of arrival, a slice per turn", async () => {
    const held = new HeldCalls({ maxWaitMs: 60_000, sliceSize: 2 });
    held.hold();
    const order: string[] = [];
    const calls = [
      ["agent-1", 3],
      ["agent-2", 3],
      ["scheduler-1", 0],
      ["agent-3", 3],
      ["scheduler-2", 0],
    ] as const;
    for (const [name, priority] of calls) held.wait(priority)!.then(() => order.push(name));
    await nextTurn();
    assert.deepEqual(order, [], "released before release()");
    held.release();
    assert.equal(held.holding, false);
    await Promise.resolve();
    assert.deepEqual(order, ["scheduler-1", "scheduler-2"], "one slice in the turn of release()");
    await nextTurn();
    assert.deepEqual(order, ["scheduler-1", "scheduler-2", "agent-1", "agent-2"]);
    await nextTurn();
    assert.deepEqual(order, ["scheduler-1", "scheduler-2", "agent-1", "agent-2", "agent-3"]);
    assert.equal(held.wait(0), undefined, "after release, calls are not held");
  });

  test("with settled, the first priority goes alone and the rest once it settles", async () => {
    const held = new HeldCalls({ maxWaitMs: 60_000 });
    held.hold();
    const order: string[] = [];
    held.wait(3)!.then(() => order.push("agent"));
    held.wait(0)!.then(() => order.push("scheduler"));
    let settle!: () => void;
    let asked = false;
    held.release(() => {
      asked = true;
      return new Promise<void>((r) => {
        settle = r;
      });
    });
    await nextTurn();
    await nextTurn();
    assert.equal(asked, true);
    assert.deepEqual(order, ["scheduler"], "the agent went before the scheduler's calls settled");
    settle();
    await nextTurn();
    await nextTurn();
    assert.deepEqual(order, ["scheduler", "agent"]);
  });

  test("a call waits at most maxWaitMs", async () => {
    const held = new HeldCalls({ maxWaitMs: 20 });
    held.hold();
    await held.wait(0); // settles by its bound, with the takeover still under way
    assert.equal(held.holding, true);
    held.release(); // the timed-out call is not released a second time (nothing to assert but no throw)
  });
});

describe("gatedService", () => {
  const definition = {
    ping: { path: "/t.T/Ping", requestStream: false, responseStream: false },
  } as unknown as ServiceDefinition;
  type Callback = (err: unknown, res: unknown) => void;
  const call = (impl: UntypedServiceImplementation) =>
    new Promise<{ err: unknown; res: unknown }>((resolve) => {
      (impl.ping as (call: unknown, cb: Callback) => void)({}, (err, res) => resolve({ err, res }));
    });

  test("during a takeover a call waits and is served by the new leader; otherwise it is refused at once", async () => {
    let leading: UntypedServiceImplementation | undefined;
    const held = new HeldCalls({ maxWaitMs: 60_000 });
    const gate = gatedService(
      definition,
      () => leading,
      () => ({ code: 14, details: "not the leader" }),
      {
        opening: () => held.wait(0),
      },
    );
    assert.deepEqual((await call(gate)).err, { code: 14, details: "not the leader" });

    held.hold();
    const pending = call(gate);
    await nextTurn();
    leading = {
      ping: ((_c: unknown, cb: Callback) =>
        cb(null, "pong")) as unknown as UntypedServiceImplementation[string],
    };
    held.release();
    assert.deepEqual(await pending, { err: null, res: "pong" });

    // A takeover that fails: the held call is refused, not left hanging.
    leading = undefined;
    held.hold();
    const refused = call(gate);
    held.release();
    assert.deepEqual((await refused).err, { code: 14, details: "not the leader" });
  });
});
