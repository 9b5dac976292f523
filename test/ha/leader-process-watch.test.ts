// The standby's watch on the leader's process, against real sockets: a port that refuses
// after the connection closed means the process is gone (its lease is revoked); a connection
// the other end keeps, or one it closes while still listening, changes nothing.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import {
  classifyConnectError,
  LeaderProcessWatch,
  type WatchedLeader,
} from "../../master/ha/leader-process-watch.js";
import { createLogger } from "../../common/logger.js";
import { waitFor } from "../agent/helpers.js";

async function listen(port = 0): Promise<net.Server> {
  const server = net.createServer();
  server.listen(port, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return server;
}
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

function watchOf(leader: () => WatchedLeader | undefined) {
  const revoked: string[] = [];
  const watch = new LeaderProcessWatch({
    leader,
    revoke: async (lease) => {
      revoked.push(lease);
    },
    logger: createLogger("test"),
  });
  return { watch, revoked };
}

test("a leader whose port refuses after its connection closed has its lease revoked", async () => {
  const server = await listen();
  const sockets: net.Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  const leader = { id: "m1", address: `127.0.0.1:${portOf(server)}`, lease: "42" };
  const { watch, revoked } = watchOf(() => leader);
  try {
    watch.update();
    await waitFor("the standby's connection", () => sockets.length === 1 || undefined);
    // The process dies: the kernel closes its connections and nothing listens any more.
    server.close();
    for (const s of sockets) s.destroy();
    await waitFor("the lease revoked", () => (revoked.length > 0 ? revoked : undefined));
    assert.deepEqual(revoked, ["42"]);
  } finally {
    watch.stop();
  }
});

test("a connection closed by a leader that still listens changes nothing; the watch connects again", async () => {
  const server = await listen();
  const sockets: net.Socket[] = [];
  server.on("connection", (s) => sockets.push(s));
  const leader = { id: "m1", address: `127.0.0.1:${portOf(server)}`, lease: "7" };
  const { watch, revoked } = watchOf(() => leader);
  try {
    watch.update();
    await waitFor("the first connection", () => sockets.length === 1 || undefined);
    sockets[0]!.destroy(); // as a TLS server's handshake timeout does
    // The positive signal: the watch came back, which it does only after its probe found
    // the port listening (a refusal would have revoked instead).
    await waitFor("the second connection", () => sockets.length === 2 || undefined);
    assert.deepEqual(revoked, []);
  } finally {
    watch.stop();
    server.close();
    for (const s of sockets) s.destroy();
  }
});

test("no leader, or a new one: the watch follows the election and revokes nobody else's lease", async () => {
  const a = await listen();
  const b = await listen();
  const seenA: net.Socket[] = [];
  const seenB: net.Socket[] = [];
  a.on("connection", (s) => seenA.push(s));
  b.on("connection", (s) => seenB.push(s));
  const m1 = { id: "m1", address: `127.0.0.1:${portOf(a)}`, lease: "1" };
  let leader: WatchedLeader | undefined = m1;
  const { watch, revoked } = watchOf(() => leader);
  try {
    watch.update();
    await waitFor("a watched", () => seenA.length === 1 || undefined);
    leader = { id: "m2", address: `127.0.0.1:${portOf(b)}`, lease: "2" };
    watch.update();
    await waitFor("b watched", () => seenB.length === 1 || undefined);
    // m1 dies after the election moved on: nobody revokes its lease.
    a.close();
    for (const s of seenA) s.destroy();
    leader = undefined;
    watch.update();
    b.close();
    for (const s of seenB) s.destroy();
    // The probe of m1 would have been refused at once; the watch dropped m1's socket
    // when m2 came, so nothing looked. Positive signal: a fresh watch of m1 does revoke.
    const fresh = watchOf(() => m1);
    fresh.watch.update();
    await waitFor("the fresh watch's revoke", () => (fresh.revoked.length ? true : undefined));
    fresh.watch.stop();
    assert.deepEqual(revoked, []);
  } finally {
    watch.stop();
  }
});

test("only a refusal counts as gone", () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(classifyConnectError(err("ECONNREFUSED")), "refused");
  for (const code of ["ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET"]) {
    assert.equal(classifyConnectError(err(code)), "no-answer");
  }
});
