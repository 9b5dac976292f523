import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { mkdtempSync, readFileSync, rmSync, truncateSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ClusterIdentityError,
  decideClusterIdentity,
  establishClusterIdentity,
  type IdentityFacts,
} from "../../master/cluster-identity.js";
import { SqliteRegistryStore } from "../../master/store/sqlite-registry-store.js";

const fresh = (): string => "cluster-new";
const facts = (f: Partial<IdentityFacts>): IdentityFacts => ({
  registryEmpty: true,
  releaseBlobs: 0,
  startAfresh: false,
  ...f,
});

describe("cluster identity at master start", () => {
  const cases: { name: string; facts: IdentityFacts; want: object | RegExp }[] = [
    {
      name: "a brand-new data dir makes a new cluster",
      facts: facts({}),
      want: { clusterId: "cluster-new", writeRegistry: true, writeFile: true, how: "new" },
    },
    {
      name: "a registry with its id and the same identity file is kept as it is",
      facts: facts({ registryId: "c1", registryEmpty: false, fileId: "c1" }),
      want: { clusterId: "c1", writeRegistry: false, writeFile: false, how: "kept" },
    },
    {
      name: "a lost identity file is written again from the registry",
      facts: facts({ registryId: "c1", registryEmpty: false }),
      want: { clusterId: "c1", writeRegistry: false, writeFile: true, how: "file restored" },
    },
    {
      name: "an identity file naming another cluster is rewritten: the registry is the authority",
      facts: facts({ registryId: "c1", registryEmpty: false, fileId: "c2" }),
      want: { clusterId: "c1", writeRegistry: false, writeFile: true, how: "file restored" },
    },
    {
      name: "a registry from before cluster ids, not empty, gets a new id (migration)",
      facts: facts({ registryEmpty: false }),
      want: { clusterId: "cluster-new", writeRegistry: true, writeFile: true, how: "migrated" },
    },
    {
      name: "a registry from before cluster ids adopts the identity file's id",
      facts: facts({ registryEmpty: false, fileId: "c1" }),
      want: { clusterId: "c1", writeRegistry: true, writeFile: false, how: "migrated" },
    },
    {
      name: "an empty registry beside an identity file is refused",
      facts: facts({ fileId: "c1" }),
      want: /registry \(master\.db\) is empty or missing.*identity file cluster-id names cluster c1.*--start-afresh/,
    },
    {
      name: "an empty registry beside release blobs is refused",
      facts: facts({ releaseBlobs: 3 }),
      want: /empty or missing.*3 release blob\(s\) in releases\/blobs/,
    },
    {
      name: "an empty registry beside a cluster starts afresh when told to",
      facts: facts({ fileId: "c1", releaseBlobs: 2, startAfresh: true }),
      want: { clusterId: "cluster-new", writeRegistry: true, writeFile: true, how: "afresh" },
    },
    {
      name: "start afresh changes nothing for a registry that holds its cluster",
      facts: facts({ registryId: "c1", registryEmpty: false, fileId: "c1", startAfresh: true }),
      want: { clusterId: "c1", writeRegistry: false, writeFile: false, how: "kept" },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const d = decideClusterIdentity(c.facts, fresh);
      if (c.want instanceof RegExp) {
        assert.ok("refuse" in d, `expected a refusal, got ${JSON.stringify(d)}`);
        assert.match(d.refuse, c.want);
      } else {
        assert.deepEqual(d, c.want);
      }
    });
  }
});

describe("cluster identity on a real registry", () => {
  test("made, kept, migrated for a registry from before, refused once the registry is emptied", () => {
    const dir = mkdtempSync(join(tmpdir(), "yard-identity-"));
    const idFile = join(dir, "cluster-id");
    try {
      let store = new SqliteRegistryStore(dir);
      const made = establishClusterIdentity(dir, store, false);
      assert.equal(made.how, "new");
      assert.equal(store.clusterId(), made.clusterId);
      assert.equal(readFileSync(idFile, "utf8").trim(), made.clusterId);
      assert.deepEqual(establishClusterIdentity(dir, store, false), {
        clusterId: made.clusterId,
        how: "kept",
      });

      // A registry written before cluster ids: it holds an agent, its meta no id.
      store.putAgent({
        info: {
          id: "agent-1",
          hostname: "h",
          resources: undefined,
          attributes: [],
          executors: [],
          version: "",
        },
        secretHash: "",
        status: "ACTIVE",
        draining: false,
        registeredAt: 1,
        lastSeen: 1,
      });
      store.putMeta("cluster_id", "");
      rmSync(idFile);
      const migrated = establishClusterIdentity(dir, store, false);
      assert.equal(migrated.how, "migrated");
      assert.notEqual(migrated.clusterId, made.clusterId);
      assert.equal(readFileSync(idFile, "utf8").trim(), migrated.clusterId);
      store.close();

      truncateSync(join(dir, "master.db"), 0);
      store = new SqliteRegistryStore(dir);
      assert.throws(
        () => establishClusterIdentity(dir, store, false),
        (err: unknown) =>
          err instanceof ClusterIdentityError &&
          err.message.startsWith(`master data dir ${dir}: the registry (master.db) is empty or missing`) &&
          err.message.includes(`names cluster ${migrated.clusterId}`),
      );
      const afresh = establishClusterIdentity(dir, store, true);
      assert.equal(afresh.how, "afresh");
      assert.equal(readFileSync(idFile, "utf8").trim(), afresh.clusterId);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
