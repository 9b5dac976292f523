// The SDK's state store seam, one contract for both backends (SQLite, and a real etcd member):
// ordered ranges, atomic units, deletes by prefix, everything read back after a reopen. Then
// what only etcd has: a writer whose fence is gone (another instance leads) stores nothing
// more, and durable() says so.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { keyPart, padKey, StateLostError } from "../../../framework-sdk/index.js";
import { etcdBackend, sqliteBackend } from "./state-backends.js";

const sqlite = sqliteBackend();
const etcd = etcdBackend();
before(() => etcd.start());
after(async () => {
  sqlite.cleanup();
  await etcd.destroy();
});

for (const backend of [sqlite, etcd]) {
  describe(`state store contract: ${backend.name}`, { timeout: 60_000 }, () => {
    test("puts, ordered ranges and deletes survive a reopen", async () => {
      const opened = await backend.open();
      const kv = opened.kv;
      kv.put("a/2", "two");
      kv.put(`a/${padKey(10)}`, "ten");
      kv.put(`a/${padKey(9)}`, "nine");
      kv.put("b/x", "bx");
      kv.put("a/2", "two again");
      kv.delete("b/x");
      kv.delete("never/there");
      await kv.durable();
      const again = await opened.reopen();
      assert.deepEqual(again.range("a/"), [
        [`a/${padKey(9)}`, "nine"],
        [`a/${padKey(10)}`, "ten"],
        ["a/2", "two again"],
      ]);
      assert.equal(again.get("b/x"), undefined);
      assert.equal(again.get("a/2"), "two again");
      await opened.close();
    });

    test("a unit is stored whole; deletePrefix leaves the neighbours", async () => {
      const opened = await backend.open();
      const kv = opened.kv;
      kv.unit(() => {
        for (let i = 0; i < 50; i++) kv.put(`job/${keyPart("j/1")}/${padKey(i)}`, String(i));
        kv.put("job/j2/0", "other");
      });
      assert.throws(() =>
        kv.unit(() => {
          kv.put("job/half", "written then undone");
          throw new Error("boom");
        }),
      );
      assert.equal(kv.get("job/half"), undefined, "a unit that throws leaves nothing");
      kv.deletePrefix(`job/${keyPart("j/1")}/`);
      const again = await opened.reopen();
      assert.deepEqual(again.range("job/"), [["job/j2/0", "other"]]);
      await opened.close();
    });
  });
}

describe("etcd state store: fencing", { timeout: 60_000 }, () => {
  test("once the fence key is someone else's, writes are refused and durable() rejects", async () => {
    const opened = await etcd.open();
    const kv = opened.kv;
    kv.put("k", "before");
    await kv.durable();
    // Another instance's leadership: the key is deleted and created again (new create revision).
    const fenceKey = opened.fenceKey!;
    await etcd.client().delete().key(fenceKey);
    await etcd.client().put(fenceKey).value("another holder");
    kv.put("k", "after");
    await assert.rejects(kv.durable(), StateLostError);
    kv.put("k", "dropped");
    await assert.rejects(kv.durable(), StateLostError);
    const stored = await etcd.client().get(`${opened.statePrefix}k`).string();
    assert.equal(stored, "before");
    await opened.close();
  });
});
