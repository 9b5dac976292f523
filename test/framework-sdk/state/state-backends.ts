// The two backends of the SDK's state store, opened the same way for contract tests: a SQLite
// file in a temp dir, and a prefix of a real etcd member promoted with a real fence (a key
// whose create revision the writes compare on). `reopen()` is what a restarted (or a
// taken-over) framework sees: everything stored so far, read back from where it lives.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { silentLogger } from "../../../common/logger.js";
import { EtcdStateKv, SqliteStateKv, type StateKv } from "../../../framework-sdk/index.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";

export interface OpenedKv {
  kv: StateKv;
  /** Waits for every write, closes this copy and opens a new one on the same place. */
  reopen(): Promise<StateKv>;
  close(): Promise<void>;
  /** etcd: the key the writes are fenced on, and where the state lives. */
  fenceKey?: string;
  statePrefix?: string;
}

export interface StateBackend {
  name: string;
  open(): Promise<OpenedKv>;
}

export function sqliteBackend(): StateBackend & { cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), "yard-state-"));
  let n = 0;
  return {
    name: "sqlite",
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
    open: async () => {
      const file = join(dir, `state-${n++}.db`);
      let kv = new SqliteStateKv(file);
      return {
        get kv() {
          return kv;
        },
        reopen: async () => {
          kv.close();
          kv = new SqliteStateKv(file);
          return kv;
        },
        close: async () => kv.close(),
      };
    },
  };
}

export interface EtcdBackend extends StateBackend {
  member(): EtcdMember;
  client(): Etcd3;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export function etcdBackend(): EtcdBackend {
  let member: EtcdMember | undefined;
  let client: Etcd3 | undefined;
  let n = 0;
  return {
    name: "etcd",
    member: () => member!,
    client: () => client!,
    start: async () => {
      member = await startEtcd();
      client = new Etcd3({ hosts: member.endpoint });
    },
    destroy: async () => {
      client?.close();
      await member?.destroy();
    },
    open: async () => {
      const c = client!;
      const prefix = `/test-${n++}/`;
      const fenceKey = `${prefix}fence`;
      await c.put(fenceKey).value("holder");
      const createRevision = (await c.get(fenceKey).exec()).kvs[0]!.create_revision;
      const fence = { key: fenceKey, createRevision };
      const openOne = async () => {
        const kv = await EtcdStateKv.open({ client: c, prefix: `${prefix}state/`, logger: silentLogger });
        await kv.promote(fence);
        return kv;
      };
      let kv = await openOne();
      return {
        fenceKey,
        statePrefix: `${prefix}state/`,
        get kv() {
          return kv;
        },
        reopen: async () => {
          await kv.durable();
          await kv.close();
          kv = await openOne();
          return kv;
        },
        close: () => kv.close(),
      };
    },
  };
}
