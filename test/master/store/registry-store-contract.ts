// The contract every RegistryStore backend passes (master/store/registry-store.ts): records
// round-trip, upserts keep what SQLite keeps, transactions are all or nothing, afterCommit
// waits for the commit and keeps its order, a reopened registry loads what was written.
// Each backend's test file runs it with its own fixture.
import assert from "node:assert/strict";
import { test } from "node:test";
import type {
  RegistryStore,
  StoredAgent,
  StoredFramework,
  StoredTask,
} from "../../../master/store/registry-store.js";
import { AgentInfo, FrameworkInfo, TaskInfo, TaskStatus } from "../../../proto/gen/yard/v1/common.js";
import { ClusterEvent } from "../../../proto/gen/yard/v1/operator.js";
import type { Release } from "../../../proto/gen/yard/v1/release.js";
import { waitFor } from "../../cluster/harness.js";

export interface OpenedRegistry {
  /** A fresh, empty registry this test may write. */
  store: RegistryStore;
  /** A second store on the same backend that sees only what is durable (the writer stays open). */
  reader(): Promise<RegistryStore>;
  /** Closes `store` (the test did) and opens the registry again as its writer. */
  reopen(): Promise<RegistryStore>;
  /** Closes whatever is open and deletes the registry. */
  destroy(): Promise<void>;
}

export type RegistryFactory = () => Promise<OpenedRegistry>;

export const agent = (id: string, over: Partial<StoredAgent> = {}): StoredAgent => ({
  info: AgentInfo.fromPartial({
    id,
    hostname: `host-${id}`,
    resources: { cpus: 4, mem: 1024, disk: 10, ports: [{ begin: 31000, end: 32000 }] },
    attributes: [{ name: "zone", value: "a" }],
    executors: ["process"],
    version: "1",
  }),
  secretHash: "ab12",
  status: "ACTIVE",
  draining: false,
  registeredAt: 10,
  lastSeen: 11,
  ...over,
});

export const framework = (id: string, over: Partial<StoredFramework> = {}): StoredFramework => ({
  info: FrameworkInfo.fromPartial({ id, name: `fw ${id}`, role: "web", labels: { team: "x" } }),
  principal: "alice",
  secretHash: "cd34",
  status: "CONNECTED",
  registeredAt: 20,
  disconnectedAt: 0,
  suppressed: false,
  ...over,
});

export const task = (frameworkId: string, taskId: string, over: Partial<StoredTask> = {}): StoredTask => ({
  info: TaskInfo.fromPartial({ taskId, name: taskId, agentId: "agent-1", labels: { a: "b" } }),
  frameworkId,
  status: TaskStatus.fromPartial({ taskId, frameworkId, agentId: "agent-1", state: 2, uuid: `u-${taskId}` }),
  acknowledged: false,
  killRequested: false,
  createdAt: 30,
  ...over,
});

const event = (index: number): ClusterEvent =>
  ClusterEvent.fromPartial({ index, timestamp: index, type: "TEST", message: `event ${index}` });

const release = (name: string, version: string, createdAt: number): Release => ({
  name,
  version,
  sha256: `sha-${name}-${version}`,
  size: 5,
  infoHash: `ih-${name}-${version}`,
  pieceLength: 16384,
  kind: "file",
  fileName: "a.tgz",
  image: "",
  createdAt,
  corrupt: false,
  corruptMessage: "",
  verifiedAt: 0,
});

/** Every load of a store, for "the same registry" comparisons. */
export function snapshot(s: RegistryStore) {
  return {
    agents: s.loadAgents().sort((a, b) => a.info.id.localeCompare(b.info.id)),
    frameworks: s.loadFrameworks().sort((a, b) => a.info.id.localeCompare(b.info.id)),
    tasks: s.loadTasks(),
    events: s.loadEvents(),
    releases: s.loadReleases(),
    fetches: s
      .loadFetches()
      .sort((a, b) => `${a.release} ${a.agentId}`.localeCompare(`${b.release} ${b.agentId}`)),
    pins: s.loadPins(),
    clusterId: s.clusterId(),
    meta: s.getMeta("next_event_index"),
  };
}

/** Writes one of everything (a name with "/" too: keys must not be confused by it). */
function fill(s: RegistryStore): void {
  s.transaction(() => {
    s.putAgent(agent("agent-1"));
    s.putAgent(agent("agent-2", { draining: true, status: "LOST" }));
    s.putFramework(framework("fw-1"));
    s.putFramework(framework("fw-2", { suppressed: true, status: "DISCONNECTED", disconnectedAt: 5 }));
    s.putTask(task("fw-1", "web-2", { createdAt: 32 }), false, 40);
    s.putTask(task("fw-1", "web-1", { createdAt: 31 }), false, 40);
    s.putTask(task("fw-2", "web-1", { createdAt: 33, killRequested: true }), true, 41);
    for (let i = 1; i <= 3; i++) s.putEvent(event(i));
    s.putMeta("next_event_index", "4");
    s.setClusterId("cluster-1");
    s.putRelease(release("web", "2", 51));
    s.putRelease(release("web", "1", 50));
    s.putRelease(release("team/api", "1", 52));
    s.putFetch({
      release: "web@1",
      agentId: "agent-1",
      state: "DONE",
      staged: true,
      downloaded: 5,
      size: 5,
      error: "",
      updatedAt: 60,
    });
    s.putFetch({
      release: "team/api@1",
      agentId: "agent-2",
      state: "FAILED",
      staged: false,
      downloaded: 1,
      size: 5,
      error: "disk",
      updatedAt: 61,
    });
    s.setPins("fw-1", ["web@1", "team/api@1"], 70);
  });
}

export function registryStoreContract(open: RegistryFactory): void {
  const withRegistry = (name: string, fn: (r: OpenedRegistry) => Promise<void>) =>
    test(name, async () => {
      const r = await open();
      try {
        await fn(r);
      } finally {
        await r.destroy();
      }
    });

  withRegistry("each record kind round-trips, in the documented order", async ({ store }) => {
    assert.equal(store.isEmpty(), true);
    fill(store);
    await flushed(store);
    const s = snapshot(store);
    assert.deepEqual(s.agents, [agent("agent-1"), agent("agent-2", { draining: true, status: "LOST" })]);
    assert.deepEqual(
      s.frameworks[1],
      framework("fw-2", { suppressed: true, status: "DISCONNECTED", disconnectedAt: 5 }),
    );
    assert.deepEqual(
      s.tasks.map((t) => [t.frameworkId, t.info.taskId, t.createdAt, t.killRequested]),
      [
        ["fw-1", "web-1", 31, false],
        ["fw-1", "web-2", 32, false],
        ["fw-2", "web-1", 33, true],
      ],
    );
    assert.deepEqual(s.tasks[0], task("fw-1", "web-1", { createdAt: 31 }));
    assert.deepEqual(s.events, [event(1), event(2), event(3)]);
    assert.deepEqual(
      s.releases.map((r) => `${r.name}@${r.version}`),
      ["team/api@1", "web@1", "web@2"],
    );
    assert.deepEqual(s.releases[1], release("web", "1", 50));
    assert.deepEqual(
      s.fetches.map((f) => [f.release, f.agentId, f.staged, f.error]),
      [
        ["team/api@1", "agent-2", false, "disk"],
        ["web@1", "agent-1", true, ""],
      ],
    );
    assert.deepEqual(s.pins, [
      { frameworkId: "fw-1", release: "team/api@1", pinnedAt: 70 },
      { frameworkId: "fw-1", release: "web@1", pinnedAt: 70 },
    ]);
    assert.equal(s.clusterId, "cluster-1");
    assert.equal(s.meta, "4");
  });

  withRegistry("upserts and deletes keep what SQLite keeps", async ({ store }) => {
    fill(store);
    // A second registration keeps the first one's time; the rest is replaced.
    store.putAgent(agent("agent-1", { registeredAt: 99, lastSeen: 98, status: "DISCONNECTED" }));
    store.putFramework(framework("fw-1", { registeredAt: 99, principal: "bob" }));
    // A put of a known task keeps its info and creation time; an update of an unknown one is nothing.
    const again = task("fw-1", "web-1", { createdAt: 99, acknowledged: true });
    again.info = TaskInfo.fromPartial({ taskId: "web-1", name: "renamed", agentId: "agent-9" });
    store.putTask(again, false, 100);
    store.updateTask(task("fw-1", "nope"), true, 100);
    store.updateTask(
      task("fw-2", "web-1", { status: TaskStatus.fromPartial({ taskId: "web-1", state: 3 }) }),
      true,
      101,
    );
    store.markAcknowledged("fw-2", "web-1", 102);
    store.markAcknowledged("fw-9", "none", 102);
    store.deleteTask("fw-1", "web-2");
    store.deleteFramework("fw-2");
    store.deleteFetch("team/api@1", "agent-2");
    store.deleteRelease("web", "1");
    store.setPins("fw-1", ["web@2"], 71);
    store.setPins("fw-3", ["web@2"], 72);
    store.setPins("fw-3", [], 73);
    await flushed(store);

    const s = snapshot(store);
    assert.deepEqual(
      s.agents[0],
      agent("agent-1", { registeredAt: 10, lastSeen: 98, status: "DISCONNECTED" }),
    );
    assert.deepEqual(s.frameworks, [framework("fw-1", { principal: "bob" })]);
    assert.deepEqual(
      s.tasks.map((t) => [
        t.frameworkId,
        t.info.taskId,
        t.info.name,
        t.createdAt,
        t.acknowledged,
        t.status.state,
      ]),
      [
        ["fw-1", "web-1", "web-1", 31, true, 2],
        ["fw-2", "web-1", "web-1", 33, true, 3],
      ],
    );
    assert.deepEqual(
      s.releases.map((r) => `${r.name}@${r.version}`),
      ["team/api@1", "web@2"],
    );
    assert.deepEqual(s.fetches, [], "web@1's fetch went with it, team/api@1's was deleted");
    assert.deepEqual(s.pins, [{ frameworkId: "fw-1", release: "web@2", pinnedAt: 71 }]);
  });

  withRegistry("a transaction is all or nothing; a throwing inner one undoes only itself", async (r) => {
    const { store } = r;
    store.putAgent(agent("agent-1"));
    assert.throws(
      () =>
        store.transaction(() => {
          store.putAgent(agent("agent-2"));
          store.putTask(task("fw-1", "t1"), false, 1);
          store.setPins("fw-1", ["web@1"], 1);
          store.deleteTask("fw-1", "t1");
          store.putAgent(agent("agent-1", { status: "LOST" }));
          throw new Error("boom");
        }),
      /boom/,
    );
    store.transaction(() => {
      store.putFramework(framework("fw-1"));
      try {
        store.transaction(() => {
          store.putFramework(framework("fw-2"));
          throw new Error("inner");
        });
      } catch {
        // the outer one goes on
      }
      store.putEvent(event(1));
    });
    const check = (s: RegistryStore) => {
      assert.deepEqual(
        s.loadAgents().map((a) => [a.info.id, a.status]),
        [["agent-1", "ACTIVE"]],
      );
      assert.deepEqual(s.loadTasks(), []);
      assert.deepEqual(s.loadPins(), []);
      assert.deepEqual(
        s.loadFrameworks().map((f) => f.info.id),
        ["fw-1"],
      );
      assert.deepEqual(s.loadEvents(), [event(1)]);
    };
    check(store);
    await flushed(store);
    check(await r.reader());
  });

  withRegistry("afterCommit waits for the commit of what was written before it, in order", async (r) => {
    const { store } = r;
    const ran: string[] = [];
    // Nothing pending: at once.
    store.afterCommit(() => ran.push("idle"));
    assert.deepEqual(ran, ["idle"]);

    store.beginGroup();
    store.putAgent(agent("agent-1"));
    store.afterCommit(() => ran.push("a"));
    store.transaction(() => {
      store.putAgent(agent("agent-2"));
      store.putTask(task("fw-1", "t1"), false, 1);
    });
    store.afterCommit(() => ran.push("b"));
    assert.deepEqual(ran, ["idle"], "not before the commit");
    await waitFor("the callbacks", () => ran.length === 3);
    assert.deepEqual(ran, ["idle", "a", "b"]);
    // What they waited for is durable: another reader of the backend sees it.
    const reader = await r.reader();
    assert.deepEqual(
      reader.loadAgents().map((a) => a.info.id),
      ["agent-1", "agent-2"],
    );
    assert.equal(reader.loadTasks().length, 1);
  });

  withRegistry("afterCommit inside a transaction waits for it; a rolled back one's never runs", async (r) => {
    const { store } = r;
    const ran: string[] = [];
    store.transaction(() => {
      store.putAgent(agent("agent-1"));
      store.afterCommit(() => ran.push("kept"));
      assert.deepEqual(ran, [], "not inside the transaction");
    });
    assert.throws(() =>
      store.transaction(() => {
        store.putAgent(agent("agent-2"));
        store.afterCommit(() => ran.push("rolled back"));
        throw new Error("boom");
      }),
    );
    await flushed(store);
    assert.deepEqual(ran, ["kept"]);
  });

  withRegistry("a reopened registry loads what was written", async (r) => {
    fill(r.store);
    r.store.trimEventsThrough(1);
    const before = snapshot(r.store);
    await r.store.close();
    const again = await r.reopen();
    assert.deepEqual(snapshot(again), before);
  });

  withRegistry(
    "isEmpty: any agent, framework, task, release, event or cluster id counts",
    async ({ store }) => {
      assert.equal(store.isEmpty(), true);
      store.putMeta("next_event_index", "9");
      assert.equal(store.isEmpty(), true, "other meta does not count");
      const cases: Array<[string, () => void, () => void]> = [
        ["cluster id", () => store.setClusterId("c"), () => store.putMeta("cluster_id", "")],
        ["framework", () => store.putFramework(framework("f")), () => store.deleteFramework("f")],
        ["task", () => store.putTask(task("f", "t"), false, 1), () => store.deleteTask("f", "t")],
        ["release", () => store.putRelease(release("r", "1", 1)), () => store.deleteRelease("r", "1")],
        ["event", () => store.putEvent(event(5)), () => store.trimEventsThrough(5)],
      ];
      for (const [what, add, remove] of cases) {
        add();
        assert.equal(store.isEmpty(), false, what);
        remove();
        assert.equal(store.isEmpty(), true, `${what} removed`);
      }
      // Agents are never deleted: the last case.
      store.putAgent(agent("a"));
      assert.equal(store.isEmpty(), false, "agent");
    },
  );

  withRegistry("events are trimmed through an index, and stay trimmed", async (r) => {
    for (let i = 1; i <= 30; i++) r.store.putEvent(event(i));
    r.store.trimEventsThrough(20);
    assert.deepEqual(
      r.store.loadEvents().map((e) => e.index),
      [21, 22, 23, 24, 25, 26, 27, 28, 29, 30],
    );
    r.store.trimEventsThrough(0);
    r.store.putEvent(event(31));
    await r.store.close();
    const again = await r.reopen();
    assert.deepEqual(
      again.loadEvents().map((e) => e.index),
      [21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31],
    );
  });
}

/** Resolves once what the store holds is durable. */
export function flushed(store: RegistryStore): Promise<void> {
  return new Promise((resolve) => store.afterCommit(resolve));
}
