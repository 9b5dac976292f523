// MirroredKv with several txns in flight (common/etcd/mirrored-kv.ts, txn-window.ts), against a
// real etcd member: per-key order and waiter order under many concurrent units, and etcd
// stopped (SIGSTOP) or killed with txns in flight: nothing acknowledged that is not stored.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3, type Lease } from "etcd3";
import { type Fence, MirroredKv } from "../../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../../common/logger.js";
import { waitFor } from "../../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string) => {
    lines.push(`${level} ${msg}`);
  };
  return { lines, debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
}

const pad = (n: number) => String(n).padStart(6, "0");
const turn = () => new Promise((r) => setImmediate(r));

let seq = 0;
const freshPrefix = () => `/pipe${++seq}/`;

/** Every key under `prefix` in etcd, with its value. */
async function etcdContent(client: Etcd3, prefix: string): Promise<Array<[string, string]>> {
  const kvs = (await client.getAll().prefix(prefix).exec()).kvs;
  return kvs.map((x) => [x.key.toString().slice(prefix.length), x.value.toString()]);
}

/**
 * Every put under `prefix` from revision `from` on, in etcd's order, as key → values. Ends at a
 * sentinel key put after everything else was stored.
 */
async function putHistory(client: Etcd3, prefix: string, from: string): Promise<Map<string, string[]>> {
  const end = `${prefix}~end`;
  await client.put(end).value("1");
  const history = new Map<string, string[]>();
  const watcher = await client.watch().prefix(prefix).startRevision(from).create();
  try {
    await new Promise<void>((resolve, reject) => {
      watcher.on("error", reject);
      watcher.on("data", (res) => {
        for (const ev of res.events) {
          const key = ev.kv.key.toString();
          if (key === end) return resolve();
          if (ev.type !== "Put") continue;
          const k = key.slice(prefix.length);
          history.set(k, [...(history.get(k) ?? []), ev.kv.value.toString()]);
        }
      });
    });
  } finally {
    await watcher.cancel();
  }
  return history;
}

/**
 * Each key's values were stored in the order they were written: unit numbers never go back.
 * (The same value twice is a txn stored twice: its first attempt timed out at the client, was
 * applied all the same, and the retry applied it again, before any later write of its keys.)
 */
function assertPerKeyOrder(history: Map<string, string[]>): void {
  for (const [k, values] of history) {
    const nums = values.map(Number);
    for (let i = 1; i < nums.length; i++) {
      assert.ok(nums[i]! >= nums[i - 1]!, `${k}: ${nums[i - 1]} stored before ${nums[i]}, out of order`);
    }
  }
}

describe("MirroredKv, several txns in flight", () => {
  let etcd: EtcdMember;
  let client: Etcd3;
  const clients: Etcd3[] = [];
  const opened: MirroredKv[] = [];
  const leases: Lease[] = [];

  async function writer(init: Partial<Parameters<typeof MirroredKv.open>[0]> & { prefix: string }) {
    // Its own connection, so a test can cut it (close) without touching the reader's.
    const own = new Etcd3({ hosts: etcd.endpoint });
    clients.push(own);
    const kv = await MirroredKv.open({ client: own, logger: recordingLogger(), ...init });
    opened.push(kv);
    const lease = client.lease(60, { autoKeepAlive: true });
    leases.push(lease);
    const key = `${init.prefix.slice(0, -1)}-election/leader`;
    await lease.put(key).value("me");
    const fence: Fence = { key, createRevision: (await client.get(key).exec()).kvs[0]!.create_revision };
    await kv.promote(fence);
    return { kv, client: own };
  }

  before(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.endpoint });
  });
  after(async () => {
    for (const kv of opened) await kv.close();
    for (const lease of leases) lease.release();
    for (const c of clients) c.close();
    client?.close();
    await etcd?.destroy();
  });

  test("2,000 units on overlapping keys: etcd ends as the mirror, each key in order, waiters in order", async () => {
    const prefix = freshPrefix();
    const { kv } = await writer({ prefix, maxTxnOps: 16, maxTxnsInFlight: 8 });
    const start = String(Number((await client.get("/").exec()).header.revision) + 1);
    const acked: number[] = [];
    let most = 0;
    for (let u = 0; u < 2000; u++) {
      kv.unit(() => {
        kv.put(`k/${u % 50}`, pad(u));
        kv.put(`log/${pad(u)}`, pad(u));
        if (u % 10 === 0) kv.put("hot", pad(u));
        // Like the event window's trim: a range over keys that may still be in flight.
        if (u % 100 === 0 && u >= 100) kv.deleteRange(`log/${pad(u - 100)}`, `log/${pad(u - 50)}`);
        if (u % 250 === 0) kv.delete(`k/${(u + 1) % 50}`);
      });
      kv.afterCommit(() => {
        acked.push(u);
        most = Math.max(most, kv.txnsInFlight);
      });
      if (u % 20 === 19) {
        await turn();
        most = Math.max(most, kv.txnsInFlight);
      }
    }
    await kv.flush();
    assert.equal(acked.length, 2000);
    assert.deepEqual(
      acked,
      acked.map((_, i) => i),
      "waiters ran in the order of their writes",
    );
    assert.ok(most >= 2, `txns were sent one at a time (at most ${most} in flight)`);
    assert.deepEqual(await etcdContent(client, prefix), kv.range(""));
    assertPerKeyOrder(await putHistory(client, prefix, start));
  });

  test("etcd stopped (SIGSTOP) with txns in flight: nothing acknowledged meanwhile, all stored in order after SIGCONT", async () => {
    const prefix = freshPrefix();
    const log = recordingLogger();
    const { kv } = await writer({
      prefix,
      logger: log,
      maxTxnOps: 8,
      maxTxnsInFlight: 8,
      callTimeoutMs: 500,
      retryMaxMs: 200,
    });
    const start = String(Number((await client.get("/").exec()).header.revision) + 1);
    const acked: number[] = [];
    let u = 0;
    const writeUnit = () => {
      const n = u++;
      kv.unit(() => {
        kv.put(`k/${n % 20}`, pad(n));
        kv.put(`log/${pad(n)}`, pad(n));
      });
      kv.afterCommit(() => acked.push(n));
    };
    // Write until two txns are in flight at once, then stop etcd under them.
    while (kv.txnsInFlight < 2) {
      assert.ok(u < 20_000, "never two txns in flight");
      for (let i = 0; i < 5; i++) writeUnit();
      await turn();
    }
    process.kill(etcd.pid!, "SIGSTOP");
    let ackedWhileStopped: number;
    try {
      await waitFor("a failed write attempt", () =>
        log.lines.some((l) => l.includes("writing to etcd failed")),
      );
      const ackedAtFailure = acked.length;
      for (let i = 0; i < 200; i++) {
        writeUnit();
        if (i % 10 === 9) await turn();
      }
      assert.ok(kv.txnsInFlight >= 2, `${kv.txnsInFlight} txns in flight while etcd is stopped`);
      ackedWhileStopped = acked.length - ackedAtFailure;
    } finally {
      process.kill(etcd.pid!, "SIGCONT");
    }
    assert.equal(ackedWhileStopped, 0, "nothing acknowledged after a failed write while etcd is stopped");
    const total = u;
    await waitFor("every unit acknowledged", () => acked.length === total, 60_000);
    assert.deepEqual(
      acked,
      acked.map((_, i) => i),
    );
    assert.deepEqual(await etcdContent(client, prefix), kv.range(""));
    assertPerKeyOrder(await putHistory(client, prefix, start));
  });

  test("etcd killed while stopped with txns in flight: every unit acknowledged before is stored", async () => {
    const prefix = freshPrefix();
    const log = recordingLogger();
    const { kv, client: own } = await writer({
      prefix,
      logger: log,
      maxTxnOps: 8,
      maxTxnsInFlight: 8,
      callTimeoutMs: 500,
      retryMaxMs: 200,
      closeGraceMs: 1,
    });
    const acked: number[] = [];
    let u = 0;
    const writeUnit = () => {
      const n = u++;
      kv.unit(() => {
        kv.put(`k/${n % 20}`, pad(n));
        kv.put(`log/${pad(n)}`, pad(n));
      });
      kv.afterCommit(() => acked.push(n));
    };
    while (kv.txnsInFlight < 2 || acked.length === 0) {
      assert.ok(u < 20_000, "never two txns in flight after a first acknowledgement");
      for (let i = 0; i < 5; i++) writeUnit();
      await turn();
    }
    process.kill(etcd.pid!, "SIGSTOP");
    await waitFor("a failed write attempt", () =>
      log.lines.some((l) => l.includes("writing to etcd failed")),
    );
    for (let i = 0; i < 100; i++) writeUnit();
    await turn();
    const told = [...acked];
    assert.ok(told.length < u, "some units were not acknowledged (they wait for etcd)");
    // The writer goes away with its connection: nothing of it can reach the restarted member,
    // so what etcd holds then is what it had stored before the kill.
    await kv.close();
    clients.splice(clients.indexOf(own), 1);
    own.close();
    await etcd.restart();
    // A fresh reader: the shared client's circuit breaker opened while the member was away.
    const reader = new Etcd3({ hosts: etcd.endpoint });
    clients.push(reader);
    const stored = new Map(await etcdContent(reader, prefix));
    for (const n of told) {
      assert.equal(stored.get(`log/${pad(n)}`), pad(n), `unit ${n} was acknowledged but is not stored`);
      assert.ok(Number(stored.get(`k/${n % 20}`)) >= n, `k/${n % 20} older than the acknowledged unit ${n}`);
    }
  });
});
