// yardctl's operator commands against a real cluster (`yardctl up`: master, agent, batch and
// service frameworks): get jobs, releases and deployments, -o wide and -o yaml, framework
// names in the tasks table, version with the master's, logs --tail in lines, rollout pause and
// resume saying the new state, and messages that are current after a scale and a drain.
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse as parseYaml } from "yaml";
import { waitFor, YARDCTL } from "../cluster/harness.js";
import { startYardctlUp } from "./yardctl-up.js";

let home: string;
let up: ChildProcess | undefined;
let upExit: Promise<number | null>;
let env: Record<string, string>;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function yardctl(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [YARDCTL, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function ok(args: string[]): Promise<string> {
  const r = await yardctl(args);
  assert.equal(r.code, 0, `yardctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/** The table's rows as cells (columns split on runs of 3+ spaces), the header row first. */
function rows(table: string): string[][] {
  return table
    .trimEnd()
    .split("\n")
    .map((l) => l.split(/ {3,}/));
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), "yardctl-ops-test-"));
  const started = await startYardctlUp(
    ["--temp", "--port", "0", "--http-port", "0", "--cpus", "2", "--mem", "1024"],
    { PATH: process.env.PATH ?? "", HOME: home, YARD_HOME: home, YARD_LOG_LEVEL: "warn" },
    30_000,
  );
  up = started.child;
  upExit = started.exit;
  const master = /export .*YARD_MASTER=(\S+)/.exec(started.out)?.[1];
  const dataDir = /export .*YARD_HOME=(\S+)/.exec(started.out)?.[1];
  assert.ok(master && dataDir, started.out);
  env = { PATH: process.env.PATH ?? "", HOME: home, YARD_MASTER: master, YARD_HOME: dataDir };
  // Both frameworks must have subscribed before the commands that need them.
  await waitFor("the batch and service frameworks", async () => {
    const r = await yardctl(["get", "frameworks"]);
    return /\bbatch\b/.test(r.stdout) && /\bservice\b/.test(r.stdout);
  });
});

after(async () => {
  if (up && up.exitCode === null) {
    up.kill("SIGINT");
    await upExit;
  }
  rmSync(home, { recursive: true, force: true });
});

describe("jobs, tasks and logs", () => {
  let taskId = "";

  test("get jobs lists the job yardctl run ran; -o yaml carries the same as -o json", async () => {
    const script = "for i in 1 2 3 4 5; do echo line$i; done";
    const run = await ok(["run", "--name", "five-lines", "--", "sh", "-c", script]);
    assert.equal(run, "line1\nline2\nline3\nline4\nline5\n");
    const table = rows(await ok(["get", "jobs"]));
    assert.deepEqual(table[0], ["ID", "NAME", "STATE", "TASKS", "AGE", "DURATION", "MESSAGE"]);
    const row = table.find((r) => r[1] === "five-lines");
    assert.ok(row, `the job in ${table.join("\n")}`);
    assert.equal(row[2], "SUCCEEDED");
    assert.equal(row[3], "1/1");
    const json = JSON.parse(await ok(["get", "jobs", "-o", "json"]));
    const yaml = parseYaml(await ok(["get", "jobs", "-o", "yaml"]));
    assert.deepEqual(yaml, json);
    const job = json.jobs.find((j: { spec: { name: string } }) => j.spec.name === "five-lines");
    taskId = job.tasks[0].taskId;
    const wide = await ok(["get", "jobs", "-o", "wide"]);
    assert.match(wide, /COMMAND/);
    assert.match(wide, /sh -c 'for i in 1 2 3 4 5; do echo line\$i; done'/);
  });

  test("logs --tail N prints the last N lines; 0 prints none", async () => {
    assert.equal(await ok(["logs", taskId, "--tail", "2"]), "line4\nline5\n");
    assert.equal(await ok(["logs", taskId, "--tail", "9"]), "line1\nline2\nline3\nline4\nline5\n");
    assert.equal(await ok(["logs", taskId, "--tail", "0"]), "");
    assert.equal(await ok(["logs", taskId, "--tail", "1", "-f"]), "line5\n");
  });

  test("the tasks table names the framework; wide and json keep its id", async () => {
    const frameworks = JSON.parse(await ok(["get", "frameworks", "-o", "json"])).frameworks as {
      info: { id: string; name: string };
    }[];
    const batchId = frameworks.find((f) => f.info.name === "batch")!.info.id;
    const table = rows(await ok(["get", "tasks", "--all"]));
    const row = table.find((r) => r[0] === taskId);
    assert.ok(row, table.join("\n"));
    assert.equal(row[1], "batch");
    const wide = rows(await ok(["get", "tasks", "--all", "-o", "wide"]));
    assert.deepEqual(wide[0].slice(0, 5), ["ID", "FRAMEWORK", "FRAMEWORK ID", "AGENT", "HOST"]);
    const wideRow = wide.find((r) => r[0] === taskId)!;
    assert.equal(wideRow[1], "batch");
    assert.equal(wideRow[2], batchId);
    const json = JSON.parse(await ok(["get", "tasks", "--all", "-o", "json"]));
    assert.equal(
      json.tasks.find((t: { info: { taskId: string } }) => t.info.taskId === taskId).frameworkId,
      batchId,
    );
  });
});

test("get releases shows what release ls shows", async () => {
  const file = join(home, "web.txt");
  writeFileSync(file, "hello\n");
  await ok(["release", "push", "notes@1.0", file]);
  const get = await ok(["get", "releases"]);
  assert.equal(get, await ok(["release", "ls"]));
  assert.match(get, /^notes@1\.0 {3}file /m);
  const yaml = parseYaml(await ok(["get", "releases", "-o", "yaml"]));
  assert.equal(yaml.releases[0].name, "notes");
  assert.match(await ok(["get", "releases", "-o", "wide"]), /FILE/);
});

test("version: the client's and the master's", async () => {
  const out = await ok(["version"]);
  assert.match(out, /^client: yardctl \d+\.\d+\.\d+\nserver: master \d+\.\d+\.\d+ at 127\.0\.0\.1:\d+\n$/);
});

test("get agents -o wide: hostname, ports, executors", async () => {
  const wide = rows(await ok(["get", "agents", "-o", "wide"]));
  for (const h of ["HOSTNAME", "PORTS", "EXECUTORS", "VERSION"]) assert.ok(wide[0].includes(h), h);
  assert.equal(wide.length, 2);
});

describe("deployments, pause and resume, scale, drain", () => {
  const spec = join(tmpdir(), `web-${process.pid}.yaml`);
  let deploymentId = "";

  test("get deployments shows the app's deployment; pause and resume say its new state", async () => {
    writeFileSync(
      spec,
      [
        "name: web",
        'command: "sleep 600"',
        "instances: 2",
        "resources: { cpus: 0.1, mem: 32 }",
        "kill_grace: 1",
        "rollout:",
        "  steps: [1, 100%]",
        "  pause: manual",
        "  min_healthy_time: 0",
        "",
      ].join("\n"),
    );
    await ok(["deploy", "-f", spec]);
    const waiting = await waitFor("the deployment to wait for promotion after step 1", async () => {
      const json = JSON.parse(await ok(["get", "deployments", "-o", "json"]));
      const d = json.deployments.find((x: { app: string }) => x.app === "web");
      return d?.state === "WAITING_PROMOTION" && d;
    });
    deploymentId = waiting.id;
    const table = rows(await ok(["get", "deployments"]));
    assert.deepEqual(table[0], ["APP", "DEPLOYMENT", "REVISION", "STATE", "STEP", "AGE", "MESSAGE"]);
    assert.deepEqual(table[1].slice(0, 5), ["web", deploymentId, "0 → 1", "WAITING_PROMOTION", "1/2"]);

    assert.equal(
      await ok(["rollout", "pause", "web"]),
      `deployment ${deploymentId} of app web: PAUSED at step 1/2\n`,
    );
    // The message shown under the deployment says it is paused, not what it did before.
    const paused = await ok(["rollout", "status", "web"]);
    assert.match(paused, /paused by the operator/);
    assert.doesNotMatch(paused, /waiting for "yardctl rollout promote web"/);
    assert.match(
      await ok(["rollout", "resume", "web"]),
      new RegExp(`^deployment ${deploymentId} of app web: RUNNING at step 1/2\n$`),
    );
    await waitFor("the deployment to wait for promotion again", async () =>
      /WAITING_PROMOTION/.test(await ok(["get", "deployments"])),
    );
    await ok(["rollout", "promote", "web"]);
    await waitFor("the deployment to succeed", async () =>
      /SUCCEEDED/.test(await ok(["get", "deployments"])),
    );
  });

  test("after a scale, rollout status and get deployments say what the scale did", async () => {
    assert.match(await ok(["rollout", "status", "web"]), /revision 1 runs on 2 instance\(s\)/);
    await ok(["scale", "web", "1"]);
    const status = await ok(["rollout", "status", "web"]);
    assert.match(status, /revision 1 scaled from 2 to 1 instance\(s\)/);
    assert.doesNotMatch(status, /runs on 2 instance/);
    assert.match(await ok(["get", "deployments"]), /revision 1 scaled from 2 to 1 instance\(s\)/);
    const app = rows(await ok(["get", "apps"])).find((r) => r[0] === "web");
    assert.equal(app?.[2], "1", "INSTANCES");
    const yaml = parseYaml(await ok(["rollout", "status", "web", "-o", "yaml"]));
    assert.equal(yaml.instances, 1);
  });

  test("drain and undrain: the agent's status follows at once", async () => {
    const agentId = rows(await ok(["get", "agents"]))[1][0];
    const drained = await ok(["drain", agentId]);
    assert.match(drained, new RegExp(`^agent ${agentId} is DRAIN(ING|ED)\n$`));
    assert.match(rows(await ok(["get", "agents"]))[1][2], /^DRAIN(ING|ED)$/);
    assert.equal(await ok(["undrain", agentId]), `agent ${agentId} is ACTIVE\n`);
    assert.equal(rows(await ok(["get", "agents"]))[1][2], "ACTIVE");
    rmSync(spec, { force: true });
  });
});
