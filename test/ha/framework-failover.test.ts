// Frameworks that fail over, with real processes: a master and an agent (`yardctl master`,
// `yardctl agent`), a real etcd member, and two instances each of the service and the batch
// framework (`yardctl service|batch --etcd ...`). The active instance is SIGKILLed in the
// middle of a rollout (service) and of a running job (batch); the standby takes over as the
// same framework and finishes the work, no task restarted. Slow suite (about 40 s).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { DeployClient } from "../../cli/commands/deploy-client.js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { leaderHint } from "../../common/leader-redirect.js";
import { isTerminal } from "../../common/task-states.js";
import { BatchServiceClient, type Job } from "../../proto/gen/yard/v1/batch.js";
import { type AppStatus, DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import type { TaskRecord } from "../../proto/gen/yard/v1/operator.js";
import { pidsOfTask, TestCluster, waitFor, YARDCTL } from "../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../etcd-fixture.js";
import { operatorCredentials, tlsEnv, tlsMaterial } from "../tls-fixture.js";

const SERVER = `const v=process.env.VERSION;require('http').createServer((q,s)=>{s.end(v)}).listen(process.env.PORT0,'127.0.0.1')`;
const TASK_RUNNING = 3;

const idOf = (t: TaskRecord) => t.info?.taskId ?? "";

function webSpec(version: string): string {
  return [
    "name: web",
    `command: ${JSON.stringify(`exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(SERVER)}`)}`,
    `env: ${JSON.stringify({ VERSION: version })}`,
    "instances: 3",
    "resources: { cpus: 0.1, mem: 64, ports: 1 }",
    "health_check: { http: { path: / }, interval: 300ms, timeout: 1s, grace_period: 1s, failures: 2 }",
    "kill_grace: 1",
    "rollout:",
    "  steps: [1, 100%]",
    "  max_surge: 1",
    "  max_unavailable: 0",
    // Each step waits this long on healthy instances: the kill lands inside the rollout.
    "  min_healthy_time: 3",
    "  progress_deadline: 60",
    "",
  ].join("\n");
}

interface Instance {
  kind: "service" | "batch";
  child: ChildProcess;
  endpoint: string;
  output: string[];
}

const cluster = new TestCluster();
let etcd: EtcdMember;
const instances: Instance[] = [];

async function startInstance(kind: "service" | "batch", n: number): Promise<Instance> {
  const home = path.join(cluster.root, `${kind}-${n}`);
  const output: string[] = [];
  const child = spawn(
    process.execPath,
    [YARDCTL, kind, "--master", cluster.masterAddress, "--data-dir", home, "--etcd", etcd.endpoint],
    {
      env: {
        ...process.env,
        ...tlsEnv(),
        YARD_HOME: home,
        YARD_TOKEN: cluster.token,
        // A short lease: the standby takes over about 2 s after the active one dies.
        YARD_ETCD_LEASE_TTL: "2",
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  child.stdout!.on("data", (b) => output.push(String(b)));
  child.stderr!.on("data", (b) => output.push(String(b)));
  const endpoint = await waitFor(`the ${kind} instance ${n} to listen`, () => {
    if (child.exitCode !== null) throw new Error(`${kind} exited: ${output.join("")}`);
    return /serving on (\S+),/.exec(output.join(""))?.[1];
  });
  const inst = { kind, child, endpoint, output };
  instances.push(inst);
  return inst;
}

async function kill(inst: Instance): Promise<void> {
  if (inst.child.exitCode !== null || inst.child.signalCode !== null) return;
  const exited = new Promise((r) => inst.child.once("exit", r));
  inst.child.kill("SIGKILL");
  await exited;
}

/** The framework named `name` as the master sees it, once connected from one of `among`. */
async function connected(name: string, among: Instance[]) {
  return waitFor(
    `the ${name} framework to be connected from one of its instances`,
    async () => {
      const fws = (await cluster.getFrameworks()).filter((f) => f.info?.name === name);
      assert.equal(fws.length, 1, `one ${name} framework, not ${fws.length}`);
      const fw = fws[0]!;
      const active = among.find((i) => i.endpoint === fw.info?.endpoint);
      return fw.status === "CONNECTED" && active && { id: fw.info!.id, active };
    },
    30_000,
  );
}

function outputs(): string {
  return instances.map((i) => `--- ${i.kind} ${i.endpoint}\n${i.output.join("").slice(-4000)}`).join("\n");
}

before(async () => {
  etcd = await startEtcd();
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 4, mem: 4096 });
  await cluster.waitForAgents(1);
});

after(async () => {
  await Promise.all(instances.map(kill));
  await cluster.stop();
  await etcd?.destroy();
});

describe("frameworks that fail over", { concurrency: false, timeout: 180_000 }, () => {
  test("service: the active instance SIGKILLed mid-rollout; the standby completes it, no task restarted", async (t) => {
    const pair = [await startInstance("service", 0), await startInstance("service", 1)];
    const first = await connected("service", pair);
    const standby = pair.find((i) => i !== first.active)!;
    const md = authMetadata(cluster.token);
    const deployClient = (i: Instance) =>
      new DeployServiceClient(i.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
    const app = (c: DeployServiceClient): Promise<AppStatus> => unary(c.getApp, c, { app: "web" }, md, 5_000);

    // The standby answers every call with the redirect to the active instance.
    const onStandby = deployClient(standby);
    await waitFor("the standby to redirect to the active instance", async () => {
      const err = await unary(onStandby.listApps, onStandby, {}, md, 5_000).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err, "a standby must not answer");
      const hint = leaderHint(err);
      assert.equal(hint.notLeader, true, String(err));
      return hint.leader === first.active.endpoint;
    });

    // yardctl's client, given the standby's address, follows the redirect to the active one.
    const viaStandby = new DeployClient({
      address: standby.endpoint,
      token: cluster.token,
      tls: tlsMaterial("admin"),
    });
    try {
      assert.deepEqual((await viaStandby.listApps()).apps, []);
    } finally {
      viaStandby.close();
    }

    const deploy = (version: string) => {
      const file = path.join(cluster.root, `web-${version}.yaml`);
      fs.writeFileSync(file, webSpec(version));
      return cluster.yardctl(["deploy", "-f", file], 30_000);
    };
    let r = await deploy("v1");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${outputs()}`);
    const onActive = deployClient(first.active);
    await waitFor(
      "v1 to be rolled out",
      async () => (await app(onActive)).deployment?.state === "SUCCEEDED",
      60_000,
    );

    r = await deploy("v2");
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // Step 1 of 2 is under way: one v2 instance runs, the old three still serve.
    await waitFor(
      "a v2 instance to run",
      async () => (await app(onActive)).tasks.some((t) => t.revision === 2 && t.state === TASK_RUNNING),
      30_000,
    );
    const liveAtKill = (await cluster.getTasks(false)).filter((t) => !isTerminal(t.status?.state ?? 0));
    const pidsBefore = new Map(liveAtKill.map((t) => [idOf(t), pidsOfTask(cluster.root, idOf(t))]));
    assert.equal((await app(onActive)).deployment?.state !== "SUCCEEDED", true, "the rollout is in progress");
    const killedAt = Date.now();
    await kill(first.active);
    onActive.close();

    const second = await connected("service", [standby]);
    t.diagnostic(
      `service framework subscribed again from the standby ${Date.now() - killedAt} ms after the kill (lease TTL 2 s)`,
    );
    assert.equal(second.id, first.id, "the same framework, failed over");
    await waitFor(
      "the v2 rollout to complete under the new active instance",
      async () => {
        const s = await app(onStandby);
        const d = s.deployment;
        if (d && ["FAILED", "ROLLED_BACK", "ABORTED"].includes(d.state))
          throw new Error(`${d.state}: ${d.message}`);
        return d?.toRevision === 2 && d.state === "SUCCEEDED";
      },
      60_000,
    ).catch((err) => assert.fail(`${err}\n${outputs()}`));
    onStandby.close();

    // No task was launched twice: three v1 and three v2 tasks ever, the v2 ones that ran before
    // the kill still run with the same processes.
    const all = await cluster.getTasks(true);
    const ids = (rev: number) => all.filter((t) => idOf(t).startsWith(`web.${rev}.`)).map(idOf);
    assert.equal(ids(1).length, 3, `v1 tasks: ${ids(1)}`);
    assert.equal(ids(2).length, 3, `v2 tasks: ${ids(2)}`);
    const live = (await cluster.getTasks(false)).filter((t) => !isTerminal(t.status?.state ?? 0));
    assert.deepEqual(live.map(idOf).sort(), ids(2).sort());
    const v2Before = liveAtKill.map(idOf).filter((id) => id.startsWith("web.2."));
    assert.ok(v2Before.length >= 1);
    for (const id of v2Before) {
      assert.ok(
        live.some((l) => idOf(l) === id),
        `${id} still runs`,
      );
      const pids = pidsBefore.get(id);
      assert.ok(pids && pids.length > 0, `${id} had processes`);
      assert.deepEqual(pidsOfTask(cluster.root, id), pids, `${id}: same processes`);
    }
  });

  test("batch: a job submitted to the active instance survives its SIGKILL and completes under the standby", async (t) => {
    const pair = [await startInstance("batch", 0), await startInstance("batch", 1)];
    const first = await connected("batch", pair);
    const standby = pair.find((i) => i !== first.active)!;
    const md = authMetadata(cluster.token);
    const batchClient = (i: Instance) =>
      new BatchServiceClient(i.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
    const flag = path.join(cluster.root, "batch-go");
    const onActive = batchClient(first.active);
    const submitted = await unary(
      onActive.submitJob,
      onActive,
      {
        spec: {
          name: "waits",
          // Runs until the test lets it finish: it is running when its framework dies.
          command: {
            value: `while [ ! -e ${flag} ]; do sleep 0.1; done`,
            arguments: [],
            shell: true,
            env: {},
          },
          resources: { cpus: 0.1, mem: 32, disk: 0, ports: [] },
          tasks: 2,
          maxRetries: 0,
          ports: 0,
          executor: "",
          container: undefined,
        },
      },
      md,
      10_000,
    );
    const getJob = (c: BatchServiceClient): Promise<Job> =>
      unary(c.getJob, c, { jobId: submitted.id }, md, 5_000);
    const running = await waitFor(
      "both tasks to run",
      async () => {
        const j = await getJob(onActive);
        return j.tasks.every((t) => t.state === TASK_RUNNING) && j;
      },
      30_000,
    ).catch(async (err) => assert.fail(`${err}\n${JSON.stringify(await getJob(onActive))}\n${outputs()}`));
    const killedAt = Date.now();
    await kill(first.active);
    onActive.close();

    const second = await connected("batch", [standby]);
    t.diagnostic(
      `batch framework subscribed again from the standby ${Date.now() - killedAt} ms after the kill (lease TTL 2 s)`,
    );
    assert.equal(second.id, first.id, "the same framework, failed over");
    const onStandby = batchClient(standby);
    // The job is known to the new active instance before any task can end.
    const known = await waitFor("the job on the new active instance", () => getJob(onStandby), 10_000);
    assert.equal(known.state, "RUNNING");
    fs.writeFileSync(flag, "");
    const done = await waitFor(
      "the job to succeed",
      async () => {
        const j = await getJob(onStandby);
        if (j.state === "FAILED" || j.state === "KILLED") throw new Error(`job ${j.state}: ${j.message}`);
        return j.state === "SUCCEEDED" && j;
      },
      30_000,
    ).catch((err) => assert.fail(`${err}\n${outputs()}`));
    onStandby.close();
    assert.deepEqual(
      done.tasks.map((t) => [t.taskId, t.attempt]),
      running.tasks.map((t) => [t.taskId, 0]),
      "the same tasks, none launched again",
    );
  });
});
