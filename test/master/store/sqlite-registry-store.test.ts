// The SQLite registry (master/store/sqlite-registry-store.ts): the store contract, and a
// registry written by an early schema brought up to date on open.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { openDatabase } from "../../../common/sqlite.js";
import type { RegistryStore } from "../../../master/store/registry-store.js";
import { MASTER_MIGRATIONS, SqliteRegistryStore } from "../../../master/store/sqlite-registry-store.js";
import { AgentInfo, FrameworkInfo } from "../../../proto/gen/yard/v1/common.js";
import { registryStoreContract } from "./registry-store-contract.js";

describe("SqliteRegistryStore: the registry store contract", () => {
  registryStoreContract(async () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-registry-"));
    const open: RegistryStore[] = [];
    const make = () => {
      const s = new SqliteRegistryStore(dir);
      open.push(s);
      return s;
    };
    return {
      store: make(),
      reader: async () => make(),
      reopen: async () => make(),
      destroy: async () => {
        for (const s of open) {
          try {
            await s.close();
          } catch {
            // closed by the test already
          }
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
});

describe("SqliteRegistryStore migrations", () => {
  test("a registry of schema v3 (before agent secrets and framework principals) opens migrated", () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-registry-"));
    try {
      const old = openDatabase(join(dir, "master.db"), {
        migrations: MASTER_MIGRATIONS.slice(0, 3),
        name: "old registry",
        synchronous: "NORMAL",
      });
      old
        .prepare(
          `INSERT INTO agents (id, info, status, draining, registered_at, last_seen) VALUES (?, ?, 'ACTIVE', 1, 1, 2)`,
        )
        .run(
          "agent-1",
          JSON.stringify(AgentInfo.toJSON(AgentInfo.fromPartial({ id: "agent-1", hostname: "h" }))),
        );
      old
        .prepare(
          `INSERT INTO frameworks (id, info, status, registered_at, disconnected_at, suppressed)
           VALUES (?, ?, 'DISCONNECTED', 3, 4, 0)`,
        )
        .run(
          "fw-1",
          JSON.stringify(FrameworkInfo.toJSON(FrameworkInfo.fromPartial({ id: "fw-1", name: "web" }))),
        );
      old.close();

      const store = new SqliteRegistryStore(dir);
      const [a] = store.loadAgents();
      assert.deepEqual([a?.info.hostname, a?.draining, a?.secretHash], ["h", true, ""]);
      const [f] = store.loadFrameworks();
      assert.deepEqual(
        [f?.info.name, f?.status, f?.principal, f?.secretHash],
        ["web", "DISCONNECTED", "", ""],
      );
      assert.equal(store.isEmpty(), false);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a registry of a newer schema is refused, not misread", () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-registry-"));
    try {
      new SqliteRegistryStore(dir).close();
      const db = openDatabase(join(dir, "master.db"), {
        migrations: [...MASTER_MIGRATIONS, "CREATE TABLE later (x TEXT)"],
        name: "newer registry",
        synchronous: "NORMAL",
      });
      db.close();
      assert.throws(() => new SqliteRegistryStore(dir), /schema v7 is newer than this build knows \(v6\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
