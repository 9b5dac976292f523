// Releases survive the leader: two masters in HA mode on a real etcd member, as processes. A
// push to the leader returns once the standby holds a verified copy; the leader is killed with
// SIGKILL; the standby leads and seeds the release at once (it never saw the push's bytes
// other than through the swarm); an agent that never held the release, started with the old
// leader gone, fetches it from the swarm and runs a task from it, which checks the bytes.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { Etcd3 } from "etcd3";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import {
  isTerminal,
  SchedulerDriver,
  takeTasks,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { type GetMastersResponse, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { killProcessesUnder, runYardctl, TestCluster, waitFor, YARDCTL } from "../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../etcd-fixture.js";
import { operatorCredentials, tlsEnv, tlsOf } from "../tls-fixture.js";

const SIZE = 2 * 1024 * 1024;
const PREFIX = "/yard";

interface Daemon {
  child: ChildProcess;
  output: string[];
  home: string;
}

// The harness's root: a temp dir that tasks of the unprivileged user may pass through.
const cluster = new TestCluster();
const root = cluster.root;
let etcd: EtcdMember | undefined;
const daemons: Daemon[] = [];
let driver: SchedulerDriver | undefined;

after(async () => {
  await driver?.stop().catch(() => undefined);
  // A process killed by a signal keeps exitCode null: its signalCode says it has exited.
  const running = daemons.filter((d) => d.child.exitCode === null && d.child.signalCode === null);
  const exited = running.map((d) => new Promise((r) => d.child.once("exit", r)));
  for (const d of running) d.child.kill("SIGKILL");
  await Promise.all(exited);
  killProcessesUnder(root);
  await etcd?.destroy();
  await cluster.stop();
});

function spawnDaemon(args: string[], home: string): Daemon {
  const child = spawn(process.execPath, [YARDCTL, ...args], {
    env: { ...process.env, ...tlsEnv(), YARD_LOG_LEVEL: "info", YARD_HOME: home, YARD_TOKEN: cluster.token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const keep = (b: Buffer) => {
    output.push(b.toString());
    if (output.length > 500) output.splice(0, 100);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const d = { child, output, home };
  daemons.push(d);
  return d;
}

/** Starts an HA master; resolves its gRPC address once it listens. */
async function startHaMaster(name: string): Promise<{ daemon: Daemon; address: string }> {
  const home = join(root, name);
  const daemon = spawnDaemon(
    [
      "master",
      "--data-dir",
      home,
      "--port",
      "0",
      "--http-port",
      "0",
      "--seed-port",
      "0",
      "--etcd",
      etcd!.endpoint,
      "--etcd-prefix",
      PREFIX,
      "--master-id",
      name,
      "--release-copies",
      "1",
    ],
    home,
  );
  const discovery = join(home, "master", "master.json");
  const info = await waitFor(
    `master ${name} to listen`,
    () => {
      if (daemon.child.exitCode !== null) throw new Error(`master ${name} exited: ${daemon.output.join("")}`);
      return existsSync(discovery) && (JSON.parse(readFileSync(discovery, "utf8")) as { grpcPort: number });
    },
    30_000,
  );
  return { daemon, address: `127.0.0.1:${info.grpcPort}` };
}

async function getMasters(address: string): Promise<GetMastersResponse | undefined> {
  const c = new OperatorServiceClient(address, operatorCredentials(), CHANNEL_OPTIONS);
  try {
    return await unary(c.getMasters, c, {}, cluster.metadata(), 3_000);
  } catch {
    return undefined;
  } finally {
    c.close();
  }
}

function yardctl(master: string, args: string[], timeoutMs = 60_000) {
  return runYardctl(args, timeoutMs, { YARD_MASTER: master, YARD_TOKEN: cluster.token });
}

test("a release pushed to the leader is seeded by the new leader after a kill -9, and an agent runs a task from it", async () => {
  etcd = await startEtcd();
  const m1 = await startHaMaster("m1");
  const m2 = await startHaMaster("m2");
  const masters = [m1, m2];
  const first = await waitFor(
    "a leader and a standby",
    async () => {
      const view = await getMasters(m1.address);
      const roles = view?.masters.map((m) => m.role).sort();
      return roles?.length === 2 && roles[0] === "leader" && roles[1] === "standby" && view;
    },
    30_000,
  );
  const leaderId = first.masters.find((m) => m.role === "leader")!.id;
  const leader = leaderId === "m1" ? m1 : m2;
  const standby = leaderId === "m1" ? m2 : m1;
  const standbyId = leaderId === "m1" ? "m2" : "m1";

  const file = join(root, "app.bin");
  const bytes = randomBytes(SIZE);
  writeFileSync(file, bytes);
  const sha = createHash("sha256").update(bytes).digest("hex");
  const pushed = await yardctl(leader.address, ["release", "push", "app@1", file], 180_000);
  assert.equal(pushed.code, 0, `${pushed.stdout}${pushed.stderr}`);
  assert.match(pushed.stdout, new RegExp(`copies: 1/1 on standbys \\(${standbyId}\\)`));
  // What the push promised holds when it returns: the standby's verified copy and its key.
  const standbyBlob = join(standby.daemon.home, "master", "releases", "blobs", sha);
  assert.equal(createHash("sha256").update(readFileSync(standbyBlob)).digest("hex"), sha);
  const etcdClient = new Etcd3({ hosts: etcd.endpoint });
  try {
    const key = await etcdClient.get(`${PREFIX}/release-copies/app@1/${standbyId}`).string();
    assert.equal((JSON.parse(key ?? "{}") as { sha256?: string }).sha256, sha);
  } finally {
    etcdClient.close();
  }

  // Operators see the copies: a COPIES column and a copies line.
  const ls = await yardctl(leader.address, ["release", "ls"]);
  assert.equal(ls.code, 0, ls.stderr);
  assert.match(ls.stdout, /COPIES/);
  assert.match(ls.stdout, /app@1 .* 1\/1\s*$/m);
  const shown = await yardctl(leader.address, ["release", "status", "app@1"]);
  assert.match(shown.stdout, new RegExp(`copies: +1/1 on standbys \\(${standbyId}\\)`));

  // The leader and its disk are gone.
  leader.daemon.child.kill("SIGKILL");
  await new Promise((r) => leader.daemon.child.once("exit", r));
  await waitFor(
    "the standby to lead",
    async () =>
      (await getMasters(standby.address))?.masters.find((m) => m.id === standbyId)?.role === "leader",
    30_000,
  );
  await waitFor(
    "the new leader to seed app@1",
    async () => {
      const s = await yardctl(standby.address, ["release", "status", "app@1", "-o", "json"]);
      return s.code === 0 && (JSON.parse(s.stdout) as { seeded?: boolean }).seeded === true;
    },
    60_000,
  );

  // An agent that never held the release, started with the old leader gone.
  const agentHome = join(root, "agent");
  const agent = spawnDaemon(
    [
      "agent",
      "--master",
      masters.map((m) => m.address).join(","),
      "--data-dir",
      agentHome,
      "--hostname",
      "host-0",
      "--cpus",
      "2",
      "--mem",
      "1024",
      "--ports",
      "30000-30099",
      "--peer-host",
      "127.0.0.1",
    ],
    agentHome,
  );
  const statuses: TaskStatus[] = [];
  let launched = false;
  driver = new SchedulerDriver({
    ...tlsOf("framework"),
    master: standby.address,
    token: cluster.token,
    framework: { name: "release-failover", role: "*" },
  });
  const d = driver;
  d.on("offers", async ({ offers }) => {
    for (const offer of offers) {
      const placed = launched ? [] : takeTasks(offer, [{ cpus: 0.1, mem: 32 }]).placed;
      if (placed.length === 0) {
        await d.decline([offer.id], { refuseSeconds: 1 }).catch(() => undefined);
        continue;
      }
      launched = true;
      const task = taskInfo({
        taskId: "check-bytes",
        // Exits 0 only when the file the task got is the pushed release, byte for byte.
        command: `test "$(sha256sum app.bin | cut -d' ' -f1)" = ${sha}`,
        cpus: 0.1,
        mem: 32,
        release: "app@1",
      });
      await d.launch(offer, [task], { refuseSeconds: 1 }).catch(() => {
        launched = false;
      });
    }
  });
  d.on("update", ({ status }) => {
    statuses.push(status);
  });
  await d.start();
  const end = await waitFor(
    "the task to end",
    () => {
      if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output.join("")}`);
      return statuses.find((s) => s.taskId === "check-bytes" && isTerminal(s.state));
    },
    120_000,
  );
  assert.equal(end.state, TaskState.TASK_FINISHED, `${end.reason}: ${end.message}`);
  // The agent holds the release, fetched from the new leader's seed.
  const s = await yardctl(standby.address, ["release", "status", "app@1", "-o", "json"]);
  const agents = (JSON.parse(s.stdout) as { agents?: { state: string }[] }).agents ?? [];
  assert.ok(
    agents.some((a) => a.state === "DONE"),
    s.stdout,
  );
});
