// "Why pending" at both levels, end to end: the service framework reports what waits and why
// the offers it saw did not fit (SchedulerService.ReportPending), the master adds how its
// offers to the framework stand, and `yardctl explain` prints both.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TaskState } from "../../../common/task-states.js";
import { spawn } from "node:child_process";
import { TestCluster, waitFor, YARDCTL } from "../../cluster/harness.js";
import { tlsEnv } from "../../tls-fixture.js";
import { type ServiceCluster, startServiceCluster } from "./service-cluster.js";

const cluster = new TestCluster();
let sc: ServiceCluster;
let drained: string;

function deploy(name: string, extra: string) {
  const file = path.join(cluster.root, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}\ncommand: sleep 300\ninstances: 2\n${extra}\n`);
  return cluster.yardctl(["deploy", "-f", file]);
}

/** Polls `yardctl explain` until its output matches every pattern. */
async function explainUntil(subject: string, patterns: RegExp[]): Promise<string> {
  return waitFor(
    `explain ${subject} to match ${patterns.join(" ")}`,
    async () => {
      const r = await cluster.yardctl(["explain", subject]);
      return r.code === 0 && patterns.every((p) => p.test(r.stdout)) && r.stdout;
    },
    60_000,
  );
}

before(async () => {
  sc = await startServiceCluster(cluster, 2);
  drained = (await cluster.waitForAgents(2))[1]!.info!.id;
  const d = await cluster.yardctl(["drain", drained]);
  assert.equal(d.code, 0, d.stderr);
});

after(() => sc.stop());

describe("yardctl explain", { concurrency: false }, () => {
  test("an app too big for any offer: the framework's reason and the master's agents", async () => {
    const r = await deploy("huge", "resources: { cpus: 100, mem: 64 }");
    assert.equal(r.code, 0, r.stderr);
    const out = await explainUntil("app/huge", [
      /^app\/huge: 2 task\(s\) wait to be placed, waiting .*; framework \S+ \(service\)$/m,
      /^ {2}each needs: cpus 100, mem 64 MiB/m,
      /^ {2}insufficient_cpus \(\d+ offers?\): needs 100 cpus; the largest offer had [\d.]+$/m,
      /^master: framework \S+ \(service\) wants offers; role \*, dominant share /m,
      /agents \(2\): .*1 draining/m,
    ]);
    assert.doesNotMatch(out, /constraint/);

    const json = await cluster.yardctl(["explain", "app/huge", "-o", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const e = JSON.parse(json.stdout);
    assert.equal(e.work.waiting, 2);
    assert.equal(e.work.reasons[0].code, "insufficient_cpus");
    assert.ok(e.offers.agents.some((a: { reason: string; agents: number }) => a.reason === "draining"));
  });

  test("deploy --watch shows why the new instances wait under the rollout view", async () => {
    const file = path.join(cluster.root, "wide.yaml");
    fs.writeFileSync(
      file,
      "name: wide\ncommand: sleep 300\ninstances: 1\nresources: { cpus: 50, mem: 64 }\n",
    );
    const watch = spawn(process.execPath, [YARDCTL, "deploy", "-f", file, "--watch"], {
      env: { ...process.env, ...tlsEnv(), YARD_MASTER: cluster.masterAddress, YARD_TOKEN: cluster.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    watch.stdout!.on("data", (b) => (out += b));
    try {
      await waitFor(
        "the waiting line",
        () =>
          /^waiting: 1 task\(s\) of app wide wait to be placed: insufficient_cpus: needs 50 cpus; the largest offer had [\d.]+$/m.test(
            out,
          ),
        60_000,
      );
    } finally {
      watch.kill("SIGKILL");
    }
  });

  test("an app whose constraint no agent meets: the constraint is the reason", async () => {
    const r = await deploy("picky", "constraints:\n  - hostname LIKE no-such-host");
    assert.equal(r.code, 0, r.stderr);
    await explainUntil("app/picky", [
      /^app\/picky: 2 task\(s\) wait/m,
      /^ {2}constraint \(\d+ offers?\): hostname ".*" is not LIKE no-such-host$/m,
    ]);
  });

  test("a running task is not pending; unknown names and bad forms are errors", async () => {
    const r = await deploy("small", "resources: { cpus: 0.1, mem: 32 }");
    assert.equal(r.code, 0, r.stderr);
    const taskId = await waitFor("a task of app small to run", async () => {
      const tasks = await cluster.getTasks();
      return tasks.find(
        (t) => t.info?.name.startsWith("small.") && t.status?.state === TaskState.TASK_RUNNING,
      )?.info?.taskId;
    });
    const running = await cluster.yardctl(["explain", `task/${taskId}`]);
    assert.equal(running.code, 0, running.stderr);
    assert.match(
      running.stdout,
      new RegExp(`^task/${taskId.replace(/\./g, "\\.")}: not pending: RUNNING on agent `),
    );

    const idle = await cluster.yardctl(["explain", "app/nothing-here"]);
    assert.equal(idle.code, 0, idle.stderr);
    assert.match(
      idle.stdout,
      /^app\/nothing-here: nothing of it waits \(no framework reports it pending\)$/m,
    );

    const unknown = await cluster.yardctl(["explain", "task/no-such-task"]);
    assert.equal(unknown.code, 4, unknown.stderr);
    assert.match(
      unknown.stderr,
      /task no-such-task not found: the master does not know it and no framework reports it waiting/,
    );

    const bad = await cluster.yardctl(["explain", "pod/web"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(
      bad.stderr,
      /^yardctl: explain: "pod\/web" is not KIND\/NAME with KIND one of task, app, job/,
    );
  });

  test("the event stream tells of the deployments and of what waits, with the framework", async () => {
    const out = await waitFor("the framework's events in the stream", async () => {
      const r = await cluster.yardctl(["events", "--since", "1"]);
      return (
        r.code === 0 &&
        /#\d+ DEPLOYMENT_SUCCEEDED framework=\S+ app\/small deployment \S+ of small/.test(r.stdout) &&
        /#\d+ WORK_PENDING framework=\S+ app\/huge 2 task\(s\) wait: insufficient_cpus: needs 100 cpus/.test(
          r.stdout,
        ) &&
        r.stdout
      );
    });
    assert.match(out, /#\d+ DEPLOYMENT_RUNNING framework=\S+ app\/small /);
    assert.match(out, /#\d+ INSTANCE_HEALTHY agent=\S+ framework=\S+ task=small\.\S+ app\/small /);
  });

  test("an app whose instances are all placed is not reported", async () => {
    // huge and picky still wait (above); small placed both of its instances.
    const small = await cluster.yardctl(["explain", "app/small"]);
    assert.match(small.stdout, /nothing of it waits/);
  });
});
