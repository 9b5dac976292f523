// MirroredKv (common/etcd/mirrored-kv.ts) against a real etcd member: following, atomic units,
// txn splitting at etcd's op limit, fencing, and writes held while etcd is away.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3, type IKeyValue, type Lease } from "etcd3";
import { type Fence, FenceLostError, MirroredKv } from "../../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../../common/logger.js";
import { waitFor } from "../../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";

/** A logger that keeps what it was told, so a test can wait for a warning. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string) => {
    lines.push(`${level} ${msg}`);
  };
  return { lines, debug: rec("debug"), info: rec("info"), warn: rec("warn"), error: rec("error") };
}

let seq = 0;
/** A fresh prefix per test, so tests on one member do not see each other. */
const freshPrefix = () => `/t${++seq}/`;

const leases: Lease[] = [];

/** A leadership key bound to a lease, as the election makes one; revoke() deposes it. */
async function leadershipKey(client: Etcd3, key: string): Promise<{ fence: Fence; revoke(): Promise<void> }> {
  const lease = client.lease(30, { autoKeepAlive: true });
  leases.push(lease);
  await lease.put(key).value("me");
  const kv = (await client.get(key).exec()).kvs[0]!;
  return { fence: { key, createRevision: kv.create_revision }, revoke: () => lease.revoke() };
}

async function etcdKvs(client: Etcd3, prefix: string): Promise<IKeyValue[]> {
  return (await client.getAll().prefix(prefix).exec()).kvs;
}

async function writer(
  client: Etcd3,
  prefix: string,
  init: Partial<Parameters<typeof MirroredKv.open>[0]> = {},
) {
  const kv = await MirroredKv.open({ client, prefix, logger: recordingLogger(), ...init });
  const lead = await leadershipKey(client, `${prefix}~leader`.replace(/\/~/, "-election/"));
  await kv.promote(lead.fence);
  return { kv, lead };
}

describe("MirroredKv", () => {
  let etcd: EtcdMember;
  let client: Etcd3;
  const opened: MirroredKv[] = [];
  const track = <T extends { kv: MirroredKv } | MirroredKv>(x: T): T => {
    opened.push(x instanceof MirroredKv ? x : x.kv);
    return x;
  };

  before(async () => {
    // A low op limit, so that etcd itself would refuse a txn the mirror failed to split.
    etcd = await startEtcd(["--max-txn-ops", "10"]);
    client = new Etcd3({ hosts: etcd.endpoint });
  });
  after(async () => {
    for (const kv of opened) await kv.close();
    for (const lease of leases) lease.release();
    client?.close();
    await etcd?.destroy();
  });

  test("a follower loads the prefix and sees another writer's puts and deletes", async () => {
    const prefix = freshPrefix();
    await client.put(`${prefix}a`).value("1");
    await client.put(`${prefix}b/x`).value("2");
    await client.put("/elsewhere").value("no");
    const follower = track(await MirroredKv.open({ client, prefix, logger: recordingLogger() }));
    assert.deepEqual(follower.range(""), [
      ["a", "1"],
      ["b/x", "2"],
    ]);
    const changes: Array<[string, string | undefined]> = [];
    follower.onChange = (k, v) => changes.push([k, v]);

    await client.put(`${prefix}c`).value("3");
    await client.delete().key(`${prefix}a`);
    const { kv: w } = track(await writer(client, prefix));
    w.put("b/y", "4");
    await w.flush();
    await waitFor("the follower to see the writes", () => follower.get("b/y") === "4");
    assert.deepEqual(changes, [
      ["c", "3"],
      ["a", undefined],
      ["b/y", "4"],
    ]);
    assert.deepEqual(follower.range("b/"), [
      ["b/x", "2"],
      ["b/y", "4"],
    ]);
    assert.ok(Number(follower.revision) >= Number((await client.get(`${prefix}b/y`).exec()).header.revision));
    assert.throws(() => follower.put("z", "1"), /read-only follower/);
  });

  test("promotion keeps a current warm copy; one promoted amid writes holds exactly what etcd holds", async () => {
    const prefix = freshPrefix();
    for (let i = 0; i < 50; i++) await client.put(`${prefix}k${i}`).value(String(i));
    const log = recordingLogger();
    const warm = track(await MirroredKv.open({ client, prefix, logger: log }));
    await client.put(`${prefix}k1`).value("changed");
    await client.delete().key(`${prefix}k2`);
    await waitFor(
      "the follower to see the writes",
      () => warm.get("k1") === "changed" && warm.get("k2") === undefined,
    );
    const lead = await leadershipKey(client, `${prefix.slice(0, -1)}-election/a`);
    await warm.promote(lead.fence);
    assert.ok(log.lines.includes("debug promoted on the warm copy"), log.lines.join("\n"));
    warm.put("after", "x");
    await warm.flush();
    assert.equal((await client.get(`${prefix}after`).exec()).kvs[0]?.value.toString(), "x");
    await lead.revoke();

    // Writes the follower has not seen yet when it is promoted (puts, deletes, a put then a
    // delete of the same key): it must still start from etcd's content at the fence.
    const prefix2 = freshPrefix();
    for (let i = 0; i < 50; i++) await client.put(`${prefix2}k${i}`).value(String(i));
    const late = track(await MirroredKv.open({ client, prefix: prefix2, logger: recordingLogger() }));
    const burst = [];
    for (let i = 0; i < 50; i += 2) burst.push(client.delete().key(`${prefix2}k${i}`));
    for (let i = 50; i < 80; i++) burst.push(client.put(`${prefix2}k${i}`).value(`new${i}`));
    await Promise.all(burst);
    await client.put(`${prefix2}gone`).value("1");
    await client.delete().key(`${prefix2}gone`);
    const lead2 = await leadershipKey(client, `${prefix2.slice(0, -1)}-election/a`);
    await late.promote(lead2.fence);
    const inEtcd = (await etcdKvs(client, prefix2)).map((kv) => [
      kv.key.toString().slice(prefix2.length),
      kv.value.toString(),
    ]);
    assert.deepEqual(
      late.range(""),
      inEtcd.sort((a, b) => (a[0]! < b[0]! ? -1 : 1)),
    );
    await lead2.revoke();
  });

  test("the writes of a unit land in one txn; a throwing unit leaves nothing", async () => {
    const prefix = freshPrefix();
    const { kv } = track(await writer(client, prefix));
    kv.put("gone", "x");
    const told: string[] = [];
    kv.unit(() => {
      kv.afterCommit(() => told.push("unit"));
      kv.put("u/1", "a");
      kv.put("u/2", "b");
      kv.delete("gone");
      kv.unit(() => kv.put("u/3", "c"));
    });
    assert.throws(() =>
      kv.unit(() => {
        kv.put("u/1", "changed");
        kv.put("never", "x");
        kv.afterCommit(() => told.push("thrown"));
        throw new Error("boom");
      }),
    );
    assert.equal(kv.get("u/1"), "a");
    assert.equal(kv.get("never"), undefined);
    assert.deepEqual(told, [], "a unit's callback waits for the unit's txn");
    await kv.flush();
    assert.deepEqual(told, ["unit"]);
    const kvs = await etcdKvs(client, prefix);
    assert.deepEqual(
      kvs.map((x) => [x.key.toString().slice(prefix.length), x.value.toString()]),
      [
        ["u/1", "a"],
        ["u/2", "b"],
        ["u/3", "c"],
      ],
    );
    assert.equal(new Set(kvs.map((x) => x.mod_revision)).size, 1, "one revision: one txn");
  });

  test("batches above maxTxnOps are split without splitting a unit", async () => {
    const prefix = freshPrefix();
    const { kv } = track(await writer(client, prefix, { maxTxnOps: 10 }));
    const committed: number[] = [];
    for (let u = 0; u < 9; u++) {
      kv.unit(() => {
        for (let i = 0; i < 4; i++) kv.put(`u${u}/${i}`, String(i));
      });
      kv.afterCommit(() => committed.push(u));
    }
    await kv.flush();
    assert.deepEqual(committed, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const byRevision = new Map<string, Set<string>>();
    for (const x of await etcdKvs(client, prefix)) {
      const unit = x.key.toString().slice(prefix.length).split("/")[0]!;
      const units = byRevision.get(x.mod_revision) ?? new Set();
      units.add(unit);
      byRevision.set(x.mod_revision, units);
    }
    // 36 ops at 10 per txn and 4 per unit: two units a txn, five txns.
    assert.equal(byRevision.size, 5);
    const unitRevisions = new Map<string, string[]>();
    for (const [rev, units] of byRevision) {
      assert.ok(units.size <= 2, `revision ${rev} holds ${units.size} units`);
      for (const u of units) unitRevisions.set(u, [...(unitRevisions.get(u) ?? []), rev]);
    }
    for (const [u, revs] of unitRevisions) assert.equal(revs.length, 1, `${u} was split over ${revs}`);
  });

  test("a deleted prefix and puts inside it in one batch", async () => {
    const prefix = freshPrefix();
    const { kv } = track(await writer(client, prefix));
    for (let i = 0; i < 5; i++) kv.put(`pins/fw/r${i}`, "1");
    await kv.flush();
    kv.unit(() => {
      kv.deletePrefix("pins/fw/");
      kv.put("pins/fw/r1", "2");
      kv.put("pins/fw/r9", "2");
    });
    await kv.flush();
    assert.deepEqual(
      (await etcdKvs(client, prefix)).map((x) => x.key.toString().slice(prefix.length)),
      ["pins/fw/r1", "pins/fw/r9"],
    );
  });

  test("a deposed writer's txn is refused: onFenceLost once, nothing after it written, no callback", async () => {
    const prefix = freshPrefix();
    const { kv, lead } = track(await writer(client, prefix));
    kv.put("before", "1");
    await kv.flush();
    const lost: Error[] = [];
    kv.onFenceLost = (err) => lost.push(err);

    await lead.revoke();
    let ran = false;
    kv.put("refused", "1");
    kv.afterCommit(() => {
      ran = true;
    });
    const flushed = kv.flush();
    await assert.rejects(flushed, FenceLostError);
    assert.equal(lost.length, 1);
    assert.ok(lost[0] instanceof FenceLostError);
    assert.equal(kv.writable, false);

    kv.put("after", "1");
    await assert.rejects(kv.flush(), FenceLostError);
    // A new leader writes after all this; once its write is stored, the deposed one had its chance.
    const next = track(await writer(client, prefix));
    assert.equal(next.kv.get("before"), "1");
    next.kv.put("new-leader", "1");
    await next.kv.flush();
    assert.deepEqual(
      (await etcdKvs(client, prefix)).map((x) => x.key.toString().slice(prefix.length)),
      ["before", "new-leader"],
    );
    assert.equal(ran, false);
    assert.equal(lost.length, 1);
  });

  test("writes pending while etcd is stopped (SIGSTOP) land after it continues, in order", async () => {
    const prefix = freshPrefix();
    const log = recordingLogger();
    const { kv } = track(await writer(client, prefix, { logger: log, callTimeoutMs: 500, retryMaxMs: 200 }));
    const done: number[] = [];
    process.kill(etcd.pid!, "SIGSTOP");
    try {
      for (let i = 0; i < 5; i++) {
        kv.put("counter", String(i));
        kv.put(`log/${i}`, "x");
        kv.afterCommit(() => done.push(i));
        await new Promise((r) => setImmediate(r));
      }
      await waitFor("a failed write attempt", () =>
        log.lines.some((l) => l.includes("writing to etcd failed")),
      );
      assert.deepEqual(done, [], "nothing acknowledged while etcd is stopped");
    } finally {
      process.kill(etcd.pid!, "SIGCONT");
    }
    await waitFor("the writes to land", () => done.length === 5, 60_000);
    assert.deepEqual(done, [0, 1, 2, 3, 4]);
    assert.equal((await client.get(`${prefix}counter`).string()) ?? "", "4");
    assert.equal((await etcdKvs(client, `${prefix}log/`)).length, 5);
  });

  test("writes pending while etcd is killed land after its restart; a follower catches up", async () => {
    const prefix = freshPrefix();
    const log = recordingLogger();
    const { kv } = track(
      await writer(client, prefix, { logger: log, callTimeoutMs: 1_000, retryMaxMs: 200 }),
    );
    const follower = track(await MirroredKv.open({ client, prefix, logger: recordingLogger() }));
    kv.put("a", "1");
    await kv.flush();
    await waitFor("the follower to see a", () => follower.get("a") === "1");

    await etcd.stop("SIGKILL");
    const done: string[] = [];
    kv.put("a", "2");
    kv.afterCommit(() => done.push("a"));
    kv.unit(() => {
      kv.put("b", "1");
      kv.delete("a");
    });
    kv.afterCommit(() => done.push("b"));
    await waitFor("a failed write attempt", () =>
      log.lines.some((l) => l.includes("writing to etcd failed")),
    );
    assert.deepEqual(done, []);
    await etcd.restart();
    await waitFor("the writes to land", () => done.length === 2, 60_000);
    assert.deepEqual(done, ["a", "b"]);
    assert.deepEqual(
      (await etcdKvs(client, prefix)).map((x) => [x.key.toString().slice(prefix.length), x.value.toString()]),
      [["b", "1"]],
    );
    await waitFor(
      "the follower to catch up",
      () => follower.get("b") === "1" && follower.get("a") === undefined,
      30_000,
    );
  });
});
