// The leader master partitioned away: three HA masters as processes over a real etcd, the
// leader (m1) on a host of its own in a network namespace, etcd, the two standbys, an agent and
// an SDK framework on the other host (partition-cluster.ts). The leader's link is cut: it stops
// serving before a standby leads with term + 1, a write sent to it meanwhile never reaches
// etcd, the agent and the framework follow the new leader with their tasks (same processes),
// and a status update made during the cut reaches the framework. Healed, the old leader is a
// standby, every master names the same leader, and the registry holds one history. Needs root
// (ip netns); CI runs as root.
import assert from "node:assert/strict";
import { logRecords } from "../log-records.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ServiceError } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { unary } from "../../common/grpc.js";
import { leaderHint } from "../../common/leader-redirect.js";
import { TaskState } from "../../common/task-states.js";
import { pidsOfTask, waitFor } from "../cluster/harness.js";
import { PartitionCluster } from "./partition-cluster.js";

const TTL = 3;
const CONNECTED = new Set(["ACTIVE", "DRAINING", "DRAINED"]);

/** When a master's log says `what` first (its ISO timestamp), at or after `since`. */
/** When a record matching `what` (tried on "LEVEL message") was first logged at or after `since`. */
function loggedAt(output: string[], what: RegExp, since: number): number | undefined {
  for (const r of logRecords(output.join(""))) {
    if (!what.test(`${r.level.toUpperCase()} ${r.msg}`)) continue;
    const at = Date.parse(r.time);
    if (at >= since) return at;
  }
  return undefined;
}

describe("HA masters: the leader partitioned away", { timeout: 240_000 }, () => {
  const c = new PartitionCluster(TTL);
  before(() => c.start());
  after(() => c.stop());

  test("it steps down, a standby leads with term + 1, clients follow, nothing lost; healed, one leader and one history", async (t) => {
    const [m1] = c.masters;
    assert.equal(await c.leader([0, 1, 2]), 0, "m1, started first, leads");
    const oldTerm = (await c.getMasters(m1!.own)).term;
    const agentId = await waitFor(
      "the agent registered with m1",
      async () => (await c.getAgents(m1!.own)).find((a) => CONNECTED.has(a.status))?.info?.id,
      30_000,
    );
    const fw = c.startFramework("partition");
    const first = await waitFor("the framework subscribed", () => fw.subscriptions()[0], 30_000);
    assert.equal(first.master, m1!.address);

    // t1 runs on; t2 ends when the test says so (during the partition); both run now.
    const flag = join(c.root, "t2-may-end");
    fw.submit("t1", "sleep 600");
    fw.submit("t2", `while [ ! -e ${flag} ]; do sleep 0.1; done`);
    await waitFor(
      "t1 and t2 running",
      () => ["t1", "t2"].every((id) => fw.states(id).includes(TaskState.TASK_RUNNING)),
      30_000,
    ).catch((err) => assert.fail(`${err}\n${c.output()}`));
    const t1Pids = pidsOfTask(c.root, "t1");
    assert.ok(t1Pids.length > 0, "t1 has processes");

    // ---- cut
    const cutAt = Date.now();
    c.bed.setLink(c.isolated, false);
    // A write that m1 takes while it still believes it leads: it cannot store it, so it never
    // answers it with success (the reply waits for the commit, which never comes).
    const oc = m1!.own;
    const drain = unary(
      oc.drainAgent,
      oc,
      { agentId, killAfterSeconds: 0 },
      authMetadata(c.token),
      10_000,
    ).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    // A status update made while the agent's stream to m1 is dead.
    writeFileSync(flag, "");

    // m1 stops serving: from its own host, it answers as a standby that knows no leader.
    await waitFor(
      "m1 to stop serving",
      async () => {
        const err = await c.getAgents(m1!.own).then(
          () => undefined,
          (e: ServiceError) => e,
        );
        return err !== undefined && leaderHint(err).notLeader;
      },
      20_000,
    );
    const next = await c.leader([1, 2], 30_000);
    const view = await c.getMasters(c.masters[next]!.own);
    assert.equal(view.term, oldTerm + 1, "the new leader's term");
    t.diagnostic(`m${next + 1} leads ${Date.now() - cutAt} ms after the cut (lease TTL ${TTL} s)`);
    // m1 stopped serving before the new leader took over (both logs, one clock). It gives the
    // term up a little later (no keepalive answered for 4/3 of the TTL), but serves nothing
    // from the keepalive deadline on.
    const downAt = loggedAt(m1!.output, /not serving until etcd answers/, cutAt);
    const upAt = loggedAt(c.masters[next]!.output, /INFO .*\bleading\b/, cutAt);
    assert.ok(downAt && upAt, `logs: m1 paused at ${downAt}, m${next + 1} leading at ${upAt}`);
    assert.ok(downAt < upAt, `m1 stopped serving ${downAt - upAt} ms after the new leader took over`);
    await waitFor(
      "m1 to give its term up",
      async () => loggedAt(m1!.output, /no longer leading/, cutAt),
      20_000,
    );
    // From the other side, m1 answers nothing at all.
    const fromSide = await c.getMasters(m1!.fromSide, 1_500).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    assert.ok(fromSide, "m1 answered across the cut");
    // The write it took was never acknowledged.
    const refused = await drain;
    assert.ok(refused, "the drain sent to the partitioned leader was answered with success");
    t.diagnostic(`the drain sent to m1 during the cut: ${refused.code} ${refused.details}`);

    // The agent and the framework follow the new leader; nothing restarted.
    const nc = c.masters[next]!.own;
    // ACTIVE, not DRAINING: the drain m1 took is not in the registry.
    await waitFor(
      "the agent re-registered with the new leader, active",
      async () => (await c.getAgents(nc)).find((a) => a.info?.id === agentId && a.status === "ACTIVE"),
      60_000,
    ).catch((err) => assert.fail(`${err}\n${c.output()}`));
    const again = await waitFor(
      "the framework subscribed to the new leader",
      () => fw.subscriptions().find((s) => s.master === c.masters[next]!.address),
      60_000,
    ).catch((err) => assert.fail(`${err}\n${c.output()}`));
    assert.deepEqual([again.frameworkId, again.reconnected], [first.frameworkId, true]);
    await waitFor(
      "t2's end to reach the framework",
      () => fw.states("t2").includes(TaskState.TASK_FINISHED),
      30_000,
    ).catch((err) => assert.fail(`${err}\n${c.output()}`));
    // Work goes on under the new leader while m1 is away.
    fw.submit("t3", "sleep 600");
    await waitFor("t3 running", () => fw.states("t3").includes(TaskState.TASK_RUNNING), 30_000);
    t.diagnostic(`the agent and the framework followed within ${Date.now() - cutAt} ms of the cut`);

    // ---- heal
    c.bed.setLink(c.isolated, true);
    const nextAddress = c.masters[next]!.address;
    await waitFor(
      "m1, healed, to answer as a standby naming the new leader (from both sides)",
      async () => {
        for (const client of [m1!.own, m1!.fromSide]) {
          const err = await c.getAgents(client).then(
            () => undefined,
            (e: ServiceError) => e,
          );
          if (!err || leaderHint(err).leader !== nextAddress) return false;
        }
        return true;
      },
      60_000,
    ).catch((err) => assert.fail(`${err}\n${c.output()}`));
    // Exactly one leader: every master names the same one, with the same term; m1 is a standby.
    await waitFor(
      "every master to agree",
      async () => {
        const views = await Promise.all(c.masters.map((m) => c.getMasters(m.own)));
        return views.every(
          (v) =>
            v.leader === nextAddress &&
            v.term === oldTerm + 1 &&
            v.masters.find((m) => m.id === "m1")?.role === "standby" &&
            v.masters
              .filter((m) => m.role === "leader")
              .map((m) => m.address)
              .join() === nextAddress,
        );
      },
      30_000,
    );

    // One history in etcd: what happened during the partition, nothing of what m1 took.
    const registry = `${c.prefix}/registry/`;
    const tasks = await waitFor(
      "the registry to hold every task's last state, acknowledged",
      async () => {
        const rows = Object.values(await c.etcd.getAll().prefix(`${registry}tasks/`).json()) as Array<{
          info: { taskId: string };
          status: { state: string };
          acknowledged: boolean;
        }>;
        const byId = new Map(rows.map((r) => [r.info.taskId, r]));
        const want = { t1: "TASK_RUNNING", t2: "TASK_FINISHED", t3: "TASK_RUNNING" };
        const ok = Object.entries(want).every(
          ([id, state]) => byId.get(id)?.status.state === state && byId.get(id)?.acknowledged,
        );
        return ok && byId;
      },
      30_000,
    );
    assert.deepEqual([...tasks.keys()].sort(), ["t1", "t2", "t3"]);
    const agents = Object.values(await c.etcd.getAll().prefix(`${registry}agents/`).json()) as Array<{
      draining: boolean;
    }>;
    assert.deepEqual(
      agents.map((a) => a.draining),
      [false],
    );
    const events = await c.etcd.getAll().prefix(`${registry}events/`).exec();
    assert.ok(events.kvs.length > 0);
    for (const kv of events.kvs) {
      assert.equal(kv.version, "1", `event ${kv.key} written more than once`);
      assert.doesNotMatch(kv.value.toString(), /DRAIN/, "a drain event reached the registry");
    }

    // The framework heard every state the master stored, in order, and t1 never left RUNNING
    // (the same processes as before the cut).
    const stored = await c.getTasks(nc);
    for (const id of ["t1", "t2", "t3"]) {
      const master = stored.find((s) => s.info?.taskId === id)?.status?.state;
      assert.equal(fw.states(id).at(-1), master, `${id}: the framework's last state is the master's`);
    }
    assert.ok(
      fw.states("t1").every((s) => s === TaskState.TASK_RUNNING || s < TaskState.TASK_RUNNING),
      `t1's states: ${fw.states("t1").map((s) => TaskState[s])}`,
    );
    assert.deepEqual(pidsOfTask(c.root, "t1"), t1Pids, "t1: the same processes");
    assert.match(m1!.output.join(""), /no longer leading/);
  });
});
