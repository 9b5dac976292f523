// The leader master killed in the middle of a rolling update: three HA masters as processes
// over a real etcd, an agent and the service framework (SQLite state) as processes, both given
// every master. kill -9 of the leader while v2 replaces v1 one instance at a time: a standby
// leads within the TTL and a little, the agent and the framework follow it, and the rollout
// completes with the tasks a rollout makes and no other (none restarted: the same processes),
// the framework's view of its instances being the master's.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { isTerminal, TaskState } from "../../common/task-states.js";
import { type AppStatus, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import type { TaskRecord } from "../../proto/gen/yard/v1/operator.js";
import { pidsOfTask, waitFor, YARDCTL } from "../cluster/harness.js";
import { operatorCredentials, tlsEnv } from "../tls-fixture.js";
import { HaCluster } from "./ha-cluster.js";

const TTL = 2;
const INSTANCES = 4;
const SERVER = `const v=process.env.VERSION;require('http').createServer((q,s)=>{s.end(v)}).listen(process.env.PORT0,'127.0.0.1')`;

function webSpec(version: string): string {
  return [
    "name: web",
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(SERVER)}`)}`,
    `env: ${JSON.stringify({ VERSION: version })}`,
    `instances: ${INSTANCES}`,
    "resources: { cpus: 0.1, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    "rollout:",
    "  steps: [100%]",
    // One instance at a time, each healthy for 3 s before the next: the rollout lasts long
    // enough for the kill to land inside it.
    "  max_surge: 1",
    "  max_unavailable: 0",
    "  min_healthy_time: 3",
    "  progress_deadline: 120",
    "",
  ].join("\n");
}

const idOf = (t: TaskRecord) => t.info?.taskId ?? "";
const live = (tasks: TaskRecord[]) => tasks.filter((t) => !isTerminal(t.status?.state ?? 0));

describe("HA masters: the leader killed mid-rollout", { timeout: 240_000 }, () => {
  const c = new HaCluster(TTL);
  let service: ChildProcess | undefined;
  const serviceOutput: string[] = [];
  let deploy: DeployServiceClient | undefined;

  before(() => c.start(3));
  after(async () => {
    deploy?.close();
    if (service && service.exitCode === null && service.signalCode === null) {
      const exited = new Promise((r) => service!.once("exit", r));
      service.kill("SIGKILL");
      await exited;
    }
    await c.stop();
  });

  const outputs = () => `${c.output()}\n--- service\n${serviceOutput.join("").slice(-5000)}`;

  test("a standby leads; the rollout completes, no task restarted, no update lost", async (t) => {
    const list = c.addresses.join(",");
    const old = await c.leader();
    c.startAgent(list);
    await waitFor("the agent on the leader", async () =>
      (await c.getAgents(old)).some((a) => a.status === "ACTIVE"),
    );

    const home = join(c.root, "service");
    service = spawn(process.execPath, [YARDCTL, "service", "--master", list, "--data-dir", home], {
      env: { ...process.env, ...tlsEnv(), YARD_HOME: home, YARD_TOKEN: c.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    service.stdout!.on("data", (b) => serviceOutput.push(String(b)));
    service.stderr!.on("data", (b) => serviceOutput.push(String(b)));
    const endpoint = await waitFor("the service framework to listen", () => {
      if (service!.exitCode !== null) throw new Error(`service exited: ${serviceOutput.join("")}`);
      return /serving on (\S+),/.exec(serviceOutput.join(""))?.[1];
    });
    const frameworkId = await waitFor(
      "the service framework subscribed to the leader",
      async () =>
        (await c.getFrameworks(old)).find((f) => f.info?.name === "service" && f.status === "CONNECTED")?.info
          ?.id,
      30_000,
    );
    deploy = new DeployServiceClient(endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
    const d = deploy;
    const app = (): Promise<AppStatus> => unary(d.getApp, d, { app: "web" }, authMetadata(c.token), 5_000);
    const apply = async (version: string) => {
      const file = join(c.root, `web-${version}.yaml`);
      writeFileSync(file, webSpec(version));
      const r = await c.yardctl(["deploy", "-f", file], list);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${outputs()}`);
    };
    const rolledOut = (revision: number, timeoutMs: number) =>
      waitFor(
        `revision ${revision} rolled out`,
        async () => {
          const dep = (await app()).deployment;
          if (dep && ["FAILED", "ROLLED_BACK", "ABORTED"].includes(dep.state))
            throw new Error(`${dep.state}: ${dep.message}`);
          return dep?.toRevision === revision && dep.state === "SUCCEEDED";
        },
        timeoutMs,
      ).catch((err) => assert.fail(`${err}\n${outputs()}`));

    await apply("v1");
    await rolledOut(1, 60_000);
    await apply("v2");
    // The first v2 instance runs, the old ones still serve: the rollout is under way.
    await waitFor(
      "a v2 instance to run",
      async () => (await app()).tasks.some((x) => x.revision === 2 && x.state === TaskState.TASK_RUNNING),
      30_000,
    );
    const atKill = live(await c.getTasks(old));
    const pidsAtKill = new Map(atKill.map((x) => [idOf(x), pidsOfTask(c.root, idOf(x))]));
    const v2AtKill = atKill.map(idOf).filter((id) => id.startsWith("web.2."));
    assert.ok(v2AtKill.length < INSTANCES, `the rollout is under way: ${v2AtKill.length} v2 instances`);

    const killedAt = Date.now();
    await c.kill(c.masters[old], "SIGKILL");
    const next = await c.leader(c.running());
    const took = Date.now() - killedAt;
    t.diagnostic(`m${next + 1} leads ${took} ms after the kill of m${old + 1} (lease TTL ${TTL} s)`);
    await waitFor(
      "the service framework to subscribe again, to the new leader",
      async () =>
        (await c.getFrameworks(next)).find((f) => f.info?.id === frameworkId && f.status === "CONNECTED"),
      30_000,
    );
    await rolledOut(2, 90_000);

    // The tasks a rollout makes and no other: INSTANCES of v1, INSTANCES of v2; every v1 one
    // killed by the rollout, every v2 one running, those running at the kill with the same
    // processes.
    const all = await c.getTasks(next);
    const ids = (rev: number) => all.map(idOf).filter((id) => id.startsWith(`web.${rev}.`));
    assert.equal(ids(1).length, INSTANCES, `v1 tasks: ${ids(1)}`);
    assert.equal(ids(2).length, INSTANCES, `v2 tasks: ${ids(2)}`);
    assert.equal(all.length, 2 * INSTANCES, `tasks: ${all.map(idOf)}`);
    for (const x of all.filter((y) => idOf(y).startsWith("web.1."))) {
      assert.equal(TaskState[x.status?.state ?? 0], "TASK_KILLED", `${idOf(x)}: ${x.status?.message}`);
    }
    const running = live(all);
    assert.deepEqual(running.map(idOf).sort(), ids(2).sort());
    for (const x of running) assert.equal(x.status?.state, TaskState.TASK_RUNNING, idOf(x));
    assert.ok(v2AtKill.length >= 1);
    for (const id of v2AtKill) {
      const pids = pidsAtKill.get(id);
      assert.ok(pids && pids.length > 0, `${id} had processes`);
      assert.deepEqual(pidsOfTask(c.root, id), pids, `${id}: the same processes`);
    }

    // No status update lost: the framework's instances are the master's live tasks, in the
    // master's states, and every v1 instance it had is gone from its view.
    const view = await app();
    assert.deepEqual(
      view.tasks.map((x) => [x.taskId, TaskState[x.state]]).sort(),
      running.map((x) => [idOf(x), TaskState[x.status?.state ?? 0]]).sort(),
    );
    assert.ok(
      view.tasks.every((x) => x.healthy),
      JSON.stringify(view.tasks),
    );
  });
});
