// Masters in HA mode, as real processes over a real etcd member: one leads and the standbys
// redirect; a leader frozen past its lease is deposed and, resumed, cannot write; a leader
// killed with SIGKILL is replaced within the TTL with the registry it had, and long before the
// TTL once a standby sees its port refuse connections; etcd restarted
// under a leader pauses the masters, which resume with their state.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { ClientDuplexStream, ServiceError } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { leaderHint } from "../../common/leader-redirect.js";
import { type AgentMessage, AgentServiceClient, type MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { freePort } from "../etcd-fixture.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TaskState } from "../../framework-sdk/index.js";
import { pidsOfTask, waitFor } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import { agentCredentials } from "../tls-fixture.js";
import { HaCluster, isNotLeader } from "./ha-cluster.js";

const TTL = 2;

/** Statuses of an agent whose stream to the master is up. */
const CONNECTED = new Set(["ACTIVE", "DRAINING", "DRAINED"]);
const draining = (status: string | undefined) => status === "DRAINING" || status === "DRAINED";

/** An agent connected to master `i` (`id`, or any); returns its id. */
async function agentAt(c: HaCluster, i: number, id?: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `agent ${id ?? ""} connected to m${i + 1}`,
    async () =>
      (await c.getAgents(i)).find((a) => CONNECTED.has(a.status) && (id === undefined || a.info?.id === id))
        ?.info?.id,
    timeoutMs,
  );
}

describe("HA masters: one leader, standbys that redirect", () => {
  const c = new HaCluster(TTL);
  let leader = -1;
  let standby = -1;
  before(async () => {
    await c.start(3);
    leader = await c.leader();
    standby = [0, 1, 2].find((i) => i !== leader)!;
  });
  after(() => c.stop());

  test("get masters, from a standby: one leader with its term, two standbys, store etcd", async () => {
    const res = await c.yardctl(["get", "masters", "-o", "json"], c.masters[standby]!.address);
    assert.equal(res.code, 0, res.stderr);
    const json = JSON.parse(res.stdout);
    assert.equal(json.store, "etcd");
    assert.equal(json.leader, c.masters[leader]!.address);
    assert.ok(Number(json.term) >= 1);
    const roles = json.masters.map((m: { id: string; role: string; term?: string }) => [
      m.id,
      m.role,
      Number(m.term ?? 0),
    ]);
    assert.deepEqual(
      roles,
      ["m1", "m2", "m3"].map((id, i) =>
        i === leader ? [id, "leader", Number(json.term)] : [id, "standby", 0],
      ),
    );
    const table = await c.yardctl(["get", "masters"], c.masters[standby]!.address);
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split("\n");
    assert.match(lines[0]!, /^ID\s+ADDRESS\s+HTTP\s+ROLE\s+TERM\s+SINCE/);
    assert.equal(lines.filter((l) => /\sleader\s/.test(l)).length, 1);
    assert.equal(lines.filter((l) => /\sstandby\s/.test(l)).length, 2);
  });

  test("a standby answers GetAgents with UNAVAILABLE naming the leader in yard-leader", async () => {
    const err = await c.getAgentsError(standby);
    assert.ok(isNotLeader(err, c.masters[leader]!.address), `${err.code} ${err.details}`);
    assert.deepEqual(leaderHint(err), { notLeader: true, leader: c.masters[leader]!.address });
    assert.ok(Array.isArray(await c.getAgents(leader)));
  });

  test("a standby refuses an agent's stream the same way", async () => {
    const client = new AgentServiceClient(c.masters[standby]!.address, agentCredentials(), CHANNEL_OPTIONS);
    try {
      const call: ClientDuplexStream<AgentMessage, MasterMessage> = client.connect(authMetadata(c.token));
      const err = await new Promise<ServiceError>((resolve) => {
        call.on("error", (e) => resolve(e as ServiceError));
        call.on("data", () => undefined);
      });
      assert.ok(isNotLeader(err, c.masters[leader]!.address), `${err.code} ${err.details}`);
    } finally {
      client.close();
    }
  });

  test("a standby's HTTP port: /healthz answers itself, the rest (metrics, the web UI) redirects to the leader's", async () => {
    const health = await c.httpGet(standby, "/healthz");
    assert.deepEqual([health.status, health.body], [200, "ok standby\n"]);
    const metrics = await c.httpGet(standby, "/metrics?x=1");
    assert.equal(metrics.status, 307);
    assert.equal(metrics.headers.location, `https://${c.masters[leader]!.httpAddress}/metrics?x=1`);
    // The web UI too: an operator who opens a standby's page lands on the leader's.
    const ui = await c.httpGet(standby, "/ui/");
    assert.equal(ui.status, 307);
    assert.equal(ui.headers.location, `https://${c.masters[leader]!.httpAddress}/ui/`);
    assert.equal((await c.httpGet(leader, "/healthz")).body, "ok\n");
  });

  test("get masters with no master answering exits with the unreachable code", async () => {
    const res = await c.yardctl(["get", "masters"], `127.0.0.1:${await freePort()}`);
    assert.equal(res.code, 3, res.stderr);
    assert.match(res.stderr, /cannot reach/);
  });
});

describe("HA masters: fencing of a frozen leader", () => {
  const c = new HaCluster(TTL);
  before(() => c.start(3));
  after(() => c.stop());

  test("SIGSTOP past the TTL: a standby leads with term + 1; resumed, the old leader writes nothing and answers as a standby", async () => {
    const old = await c.leader();
    const oldTerm = (await c.getMasters(old)).term;
    c.startAgent(c.addresses.join(","));
    const agentId = await agentAt(c, old);

    c.masters[old]!.child.kill("SIGSTOP");
    // A write sent to the frozen leader waits in its socket until it runs again.
    const oc = c.masters[old]!.client;
    const drain = unary(
      oc.drainAgent,
      oc,
      { agentId, killAfterSeconds: 0 },
      authMetadata(c.token),
      60_000,
    ).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    const others = [0, 1, 2].filter((i) => i !== old);
    const next = await c.leader(others);
    const view = await c.getMasters(next);
    assert.equal(view.term, oldTerm + 1);

    c.masters[old]!.child.kill("SIGCONT");
    const refused = await drain;
    assert.ok(refused, "the drain sent to the deposed leader was answered with success");
    // Refused as by a standby; the hint names the new leader, or nobody while the old one's
    // view still shows its own key, never itself.
    const hint = leaderHint(refused);
    assert.ok(hint.notLeader, `${refused.code} ${refused.details}`);
    assert.notEqual(hint.leader, c.masters[old]!.address);
    // It answers as a standby from now on, and every master names one leader and one term.
    await waitFor("the deposed leader to name the new one", async () =>
      isNotLeader(await c.getAgentsError(old), c.masters[next]!.address),
    );
    assert.equal(await c.leader(), next);
    for (const i of [0, 1, 2]) assert.equal((await c.getMasters(i)).term, oldTerm + 1);
    // The drain never reached the registry; the agent follows the new leader.
    await agentAt(c, next, agentId);
    const agent = (await c.getAgents(next)).find((a) => a.info?.id === agentId);
    assert.equal(agent?.status, "ACTIVE");
    // One history: every event in etcd was written once (a deposed writer would have reused indexes).
    const client = new Etcd3({ hosts: c.etcd.endpoint });
    try {
      const events = await client.getAll().prefix(`${c.prefix}/registry/events/`).exec();
      assert.ok(events.kvs.length > 0);
      for (const kv of events.kvs) assert.equal(kv.version, "1", kv.key.toString());
    } finally {
      client.close();
    }
    assert.match(c.masters[old]!.output.join(""), /no longer leading/);
    // A frozen process keeps its connections and its port: the lease decided, not a standby.
    for (const i of others) assert.doesNotMatch(c.masters[i]!.output.join(""), /process is gone/);
  });
});

describe("HA masters: a leader whose process dies, with a long lease", () => {
  // A TTL far longer than the test waits: only a standby revoking the lease can elect anyone.
  const c = new HaCluster(60);
  before(() => c.start(2));
  after(() => c.stop());

  test("kill -9: a standby sees the port refuse, revokes the dead leader's lease and leads long before the TTL", async () => {
    const old = await c.leader();
    const other = 1 - old;
    const oldTerm = (await c.getMasters(old)).term;
    await c.kill(c.masters[old], "SIGKILL");
    const next = await c.leader([other], 30_000);
    assert.equal(next, other);
    assert.equal((await c.getMasters(next)).term, oldTerm + 1);
    assert.match(c.masters[other]!.output.join(""), /the leader's process is gone/);
  });
});

describe("HA masters: the leader killed", () => {
  const c = new HaCluster(TTL);
  let fw: QueueFramework | undefined;
  before(() => c.start(3));
  after(async () => {
    await fw?.driver.stop().catch(() => undefined);
    await c.stop();
  });

  test("kill -9: a standby leads, with the registry it had; nothing killed, no update lost", async (t) => {
    const old = await c.leader();
    c.startAgent(c.addresses.join(","));
    const agentId = await agentAt(c, old);
    fw = new QueueFramework(c.addresses.join(","), c.token, "ha-fw");
    const frameworkId = await fw.start();
    // One task runs on; the other ends while no master leads, once told to.
    const go = join(c.root, "go");
    fw.submit(
      { taskId: "long", command: "sleep 600" },
      { taskId: "short", command: `while [ ! -e ${go} ]; do sleep 0.1; done` },
    );
    await fw.waitForState("long", TaskState.TASK_RUNNING);
    await fw.waitForState("short", TaskState.TASK_RUNNING);
    const pids = pidsOfTask(c.root, "long");
    assert.ok(pids.length > 0);
    const oc = c.masters[old]!.client;
    await unary(oc.drainAgent, oc, { agentId, killAfterSeconds: 0 }, authMetadata(c.token), 10_000);

    const killedAt = Date.now();
    await c.kill(c.masters[old], "SIGKILL");
    writeFileSync(go, "");
    const others = [0, 1, 2].filter((i) => i !== old);
    const next = await c.leader(others);
    // When the new leader took its role (its own clock, this host's), not when the polling saw it.
    const since = (await c.getMasters(next)).masters.find((m) => m.role === "leader")!.since;
    const took = since * 1000 - killedAt;
    // How fast is bench/failover's to measure (docs/benchmarks.md), not a loaded test machine's.
    t.diagnostic(`a new leader ${took} ms after the kill (lease TTL ${TTL} s)`);
    // The agent re-registers with the new leader, which kept its drain.
    await agentAt(c, next, agentId);
    const agent = (await c.getAgents(next)).find((a) => a.info?.id === agentId);
    assert.ok(draining(agent?.status), agent?.status);
    // The update sent while no master led reaches the framework through the new leader.
    await fw.waitForState("short", TaskState.TASK_FINISHED, 30_000);
    await waitFor("the framework subscribed to the new leader", async () => {
      const f = (await c.getFrameworks(next)).find((x) => x.info?.id === frameworkId);
      return f?.status === "CONNECTED";
    });
    const tasks = await c.getTasks(next);
    assert.equal(tasks.find((t) => t.info?.taskId === "long")?.status?.state, TaskState.TASK_RUNNING);
    assert.equal(tasks.find((t) => t.info?.taskId === "short")?.status?.state, TaskState.TASK_FINISHED);
    assert.deepEqual(pidsOfTask(c.root, "long"), pids, "the long task's processes were not touched");
    assert.equal(fw.state("long"), TaskState.TASK_RUNNING);
  });

  test("SIGTERM of the leader hands over at once: its candidate key is revoked before it exits", async () => {
    const leader = await c.leader();
    const m = c.masters[leader]!;
    const exited = new Promise<number | null>((r) => m.child.once("exit", (code) => r(code)));
    m.child.kill("SIGTERM");
    assert.equal(await exited, 0);
    const client = new Etcd3({ hosts: c.etcd.endpoint });
    try {
      // A key left to expire would stay for most of a TTL after the exit.
      const keys = await client.getAll().prefix(`${c.prefix}/election/candidates/`).keys();
      assert.equal(keys.length, c.running().length);
    } finally {
      client.close();
    }
    const next = await c.leader();
    assert.notEqual(next, leader);
    await fw!.waitForState("long", TaskState.TASK_RUNNING);
    await waitFor("the framework subscribed to the last leader", async () =>
      (await c.getFrameworks(next)).some((f) => f.status === "CONNECTED"),
    );
  });
});

describe("HA masters: etcd restarted under a leader", () => {
  const c = new HaCluster(TTL);
  before(() => c.start(2));
  after(() => c.stop());

  test("the masters pause while etcd is down and resume with their state", async () => {
    const first = await c.leader();
    c.startAgent(c.addresses.join(","));
    const agentId = await agentAt(c, first);
    const fc = c.masters[first]!.client;
    await unary(fc.drainAgent, fc, { agentId, killAfterSeconds: 0 }, authMetadata(c.token), 10_000);

    await c.etcd.restart();
    const now = await c.leader();
    await agentAt(c, now, agentId);
    const agent = (await c.getAgents(now)).find((a) => a.info?.id === agentId);
    assert.ok(draining(agent?.status), agent?.status);
    // Writes work again: undrain, read back from the registry as the other master sees it.
    const nc = c.masters[now]!.client;
    await unary(nc.undrainAgent, nc, { agentId }, authMetadata(c.token), 10_000);
    await waitFor("the undrain stored", async () => {
      const a = (await c.getAgents(now)).find((x) => x.info?.id === agentId);
      return a?.status === "ACTIVE";
    });
  });
});
