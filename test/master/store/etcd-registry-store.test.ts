// The etcd registry (master/store/etcd-registry-store.ts) against a real etcd member: the store
// contract, its layout's migrations, a standby's warm copy, and a deposed leader's refused write.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3, type Lease } from "etcd3";
import type { Fence } from "../../../common/etcd/mirrored-kv.js";
import { silentLogger } from "../../../common/logger.js";
import {
  EtcdRegistryStore,
  ETCD_REGISTRY_MIGRATIONS,
  RegistrySchemaTooNewError,
} from "../../../master/store/etcd-registry-store.js";
import { AgentInfo } from "../../../proto/gen/yard/v1/common.js";
import { waitFor } from "../../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";
import { agent, registryStoreContract, snapshot, task } from "./registry-store-contract.js";

let etcd: EtcdMember;
let client: Etcd3;
const leases: Lease[] = [];
let n = 0;

before(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
});
after(async () => {
  for (const l of leases) l.release();
  client?.close();
  await etcd?.destroy();
});

/** A leadership key on a lease, as the master election makes one. */
async function lead(prefix: string): Promise<{ fence: Fence; revoke(): Promise<void> }> {
  const lease = client.lease(30, { autoKeepAlive: true });
  leases.push(lease);
  const key = `${prefix}/election/${++n}`;
  await lease.put(key).value("m");
  const kv = (await client.get(key).exec()).kvs[0]!;
  return { fence: { key, createRevision: kv.create_revision }, revoke: () => lease.revoke() };
}

async function writer(prefix: string, fence: Fence, init = {}): Promise<EtcdRegistryStore> {
  const s = await EtcdRegistryStore.open({ client, prefix, logger: silentLogger, ...init });
  await s.promote(fence);
  return s;
}

describe("EtcdRegistryStore: the registry store contract", () => {
  registryStoreContract(async () => {
    const prefix = `/contract${++n}`;
    const { fence } = await lead(prefix);
    const open: EtcdRegistryStore[] = [];
    const track = (s: EtcdRegistryStore) => {
      open.push(s);
      return s;
    };
    return {
      store: track(await writer(prefix, fence)),
      reader: async () => track(await EtcdRegistryStore.open({ client, prefix, logger: silentLogger })),
      reopen: async () => track(await writer(prefix, fence)),
      destroy: async () => {
        for (const s of open) await s.close();
        await client.delete().prefix(`${prefix}/`);
      },
    };
  });
});

describe("EtcdRegistryStore", () => {
  test("a registry without a schema key (v0) is stamped v1 by its first leader, its data kept", async () => {
    const prefix = `/v0-${++n}`;
    const info = AgentInfo.toJSON(AgentInfo.fromPartial({ id: "agent-1", hostname: "h" }));
    await client.put(`${prefix}/registry/agents/agent-1`).value(
      JSON.stringify({
        info,
        secretHash: "",
        status: "ACTIVE",
        draining: false,
        registeredAt: 1,
        lastSeen: 2,
      }),
    );
    const { fence } = await lead(prefix);
    const s = await writer(prefix, fence);
    try {
      assert.equal(
        await client.get(`${prefix}/registry/schema`).string(),
        String(ETCD_REGISTRY_MIGRATIONS.length),
      );
      assert.deepEqual(
        s.loadAgents().map((a) => [a.info.hostname, a.lastSeen]),
        [["h", 2]],
      );
    } finally {
      await s.close();
    }
  });

  test("a newer layout migrates on promotion, in one unit with its version", async () => {
    const prefix = `/v1-${++n}`;
    await client.put(`${prefix}/registry/schema`).value("1");
    await client.put(`${prefix}/registry/meta/old_name`).value("x");
    // v1 → v2 in a build of the future: meta/old_name is renamed.
    const migrations = [
      ...ETCD_REGISTRY_MIGRATIONS,
      (kv: import("../../../common/etcd/mirrored-kv.js").MirroredKv) => {
        kv.put("meta/new_name", kv.get("meta/old_name")!);
        kv.delete("meta/old_name");
      },
    ];
    const follower = await EtcdRegistryStore.open({ client, prefix, logger: silentLogger, migrations });
    assert.equal(follower.getMeta("old_name"), "x", "a follower does not migrate");
    const { fence } = await lead(prefix);
    await follower.promote(fence);
    try {
      assert.equal(follower.getMeta("new_name"), "x");
      const kvs = (await client.getAll().prefix(`${prefix}/registry/`).exec()).kvs;
      assert.deepEqual(
        kvs.map((k) => [k.key.toString().slice(prefix.length), k.value.toString()]),
        [
          ["/registry/meta/new_name", "x"],
          ["/registry/schema", "2"],
        ],
      );
      assert.equal(new Set(kvs.map((k) => k.mod_revision)).size, 1, "one txn");
    } finally {
      await follower.close();
    }
  });

  test("a layout newer than this build is refused, not misread", async () => {
    const prefix = `/v9-${++n}`;
    await client.put(`${prefix}/registry/schema`).value("9");
    await assert.rejects(
      EtcdRegistryStore.open({ client, prefix, logger: silentLogger }),
      (err: unknown) =>
        err instanceof RegistrySchemaTooNewError &&
        err.message === `the registry at ${prefix}/registry/ has schema v9, newer than this build knows (v1)`,
    );
  });

  test("an agent put that changes only lastSeen writes nothing; any other change is written", async () => {
    const prefix = `/last-seen-${++n}`;
    const { fence, revoke } = await lead(prefix);
    const store = await writer(prefix, fence);
    const key = `${prefix}/registry/agents/agent-1`;
    const modRevision = async () => (await client.get(key).exec()).kvs[0]?.mod_revision;
    try {
      store.putAgent(agent("agent-1", { lastSeen: 100 }));
      await store.flush();
      const first = await modRevision();
      assert.ok(first);
      store.putAgent(agent("agent-1", { lastSeen: 200 }));
      await store.flush();
      assert.equal(await modRevision(), first, "a put of lastSeen alone reached etcd");
      store.putAgent(agent("agent-1", { lastSeen: 300, status: "DISCONNECTED" }));
      await store.flush();
      assert.notEqual(await modRevision(), first);
      const stored = JSON.parse((await client.get(key).string())!);
      assert.deepEqual([stored.status, stored.lastSeen], ["DISCONNECTED", 300]);
    } finally {
      await store.close();
      await revoke();
    }
  });

  test("a standby's copy follows the leader's writes; a deposed leader's write is refused", async () => {
    const prefix = `/ha-${++n}`;
    const first = await lead(prefix);
    const leader = await writer(prefix, first.fence);
    const standby = await EtcdRegistryStore.open({ client, prefix, logger: silentLogger });
    try {
      assert.throws(() => standby.putAgent(agent("agent-9")), /read-only follower/);
      leader.transaction(() => {
        leader.putAgent(agent("agent-1"));
        leader.putTask(task("fw-1", "t1"), false, 1);
      });
      await waitFor("the standby to see the leader's writes", () => standby.loadTasks().length === 1);
      assert.deepEqual(snapshot(standby), snapshot(leader));

      const lost: Error[] = [];
      leader.onFenceLost = (err) => lost.push(err);
      await first.revoke();
      let acked = false;
      leader.putAgent(agent("agent-2"));
      leader.afterCommit(() => {
        acked = true;
      });
      await waitFor("the refusal", () => lost.length === 1);
      // The standby takes over: its registry is the last one the deposed leader stored.
      const second = await lead(prefix);
      await standby.promote(second.fence);
      assert.deepEqual(
        standby.loadAgents().map((a) => a.info.id),
        ["agent-1"],
      );
      standby.putAgent(agent("agent-3"));
      await standby.flush();
      assert.equal(acked, false);
      assert.equal(lost.length, 1);
      assert.equal(await client.get(`${prefix}/registry/agents/agent-2`).string(), null);
    } finally {
      await leader.close();
      await standby.close();
    }
  });
});
