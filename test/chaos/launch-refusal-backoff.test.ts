// Defect: a launch the master refuses was retried on every offer, ~80 times a second, until
// the app was deleted. Fault: the release an app runs vanishes from the master's registry
// (removed while the master was down); the app is then scaled up. Invariant: the refused
// launches follow the backoff (1 s doubling, one attempt and one log line per step), and the
// app recovers by itself once the release is back.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { TaskState } from "../../common/task-states.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { logRecords } from "../log-records.js";
import { type ServiceProcess, startServiceProcess } from "./bounds-helpers.js";

const cluster = new TestCluster();
let service: ServiceProcess | undefined;

before(async () => {
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(1);
  service = await startServiceProcess(cluster);
});

after(async () => {
  await service?.stop();
  await cluster.stop();
});

/** The framework's refusal records for `app`, with their time and backoff step. */
function refusals(app: string): { at: number; step: number; line: string }[] {
  return logRecords(service!.lines.join("\n"))
    .filter((r) => r.msg === "launch refused; backing off" && r.app === app)
    .map((r) => ({ at: Date.parse(r.time), step: Number(r.step ?? Number.NaN), line: JSON.stringify(r) }));
}

describe("launch refusal backoff", () => {
  test("refused launches back off 1 s doubling, one attempt per step, and recover when the release is back", async () => {
    const dir = path.join(cluster.root, "stuck-1");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "run.sh"), "exec sleep 300\n");
    const pushed = await cluster.yardctl(["release", "push", "stuck@1", dir]);
    assert.equal(pushed.code, 0, pushed.stderr);
    const file = path.join(cluster.root, "stuck.yaml");
    fs.writeFileSync(
      file,
      [
        "name: stuck",
        "release: stuck@1",
        "command: sh run.sh",
        "instances: 1",
        "resources: { cpus: 0.1, mem: 32, ports: 0 }",
        "kill_grace: 1",
        "rollout: { min_healthy_time: 0 }",
        "",
      ].join("\n"),
    );
    const deployed = await cluster.yardctl(["deploy", "-f", file, "--watch"], 60_000);
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);

    // The fault: the release is removed from the registry while the master is down.
    await cluster.kill(cluster.master, "SIGKILL");
    const masterDir = path.join(cluster.master!.dataDir, "master");
    const db = new Database(path.join(masterDir, "master.db"));
    db.prepare("DELETE FROM releases WHERE name = 'stuck'").run();
    db.prepare("DELETE FROM release_fetches WHERE release = 'stuck@1'").run();
    db.prepare("DELETE FROM release_pins WHERE release = 'stuck@1'").run();
    db.close();
    for (const sub of ["blobs", "seed", "torrents"]) {
      const d = path.join(masterDir, "releases", sub);
      for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { recursive: true, force: true });
    }
    await cluster.startMaster();
    await cluster.waitForAgents(1);
    await waitFor("the service framework to come back", async () =>
      (await cluster.getFrameworks()).some((f) => f.info?.name === "service" && f.status === "CONNECTED"),
    );

    const scaled = await cluster.yardctl(["scale", "stuck", "3"]);
    assert.equal(scaled.code, 0, scaled.stderr);

    // A window positively known to have elapsed: four backoff steps were logged.
    const seen = await waitFor(
      "four backoff steps",
      () => {
        const r = refusals("stuck");
        return r.some((x) => x.step >= 4) && r;
      },
      40_000,
    );
    const upTo4 = seen.slice(0, seen.findIndex((x) => x.step === 4) + 1);
    assert.deepEqual(
      upTo4.map((x) => x.step),
      [1, 2, 3, 4],
      `one attempt and one line per step, not a retry per offer:\n${upTo4.map((x) => x.line).join("\n")}`,
    );
    assert.match(upTo4[0]!.line, /not a known release/, "the line says why");
    for (let k = 1; k < upTo4.length; k++) {
      const gap = upTo4[k]!.at - upTo4[k - 1]!.at;
      const wait = 1000 * 2 ** (k - 1);
      assert.ok(
        gap >= wait * 0.8,
        `step ${k} → ${k + 1} came after ${gap} ms; the backoff is ${wait} ms ± 20%`,
      );
    }

    // The release is back: the next try succeeds, the backoff resets, the app reaches 3.
    const again = await cluster.yardctl(["release", "push", "stuck@1", dir]);
    assert.equal(again.code, 0, again.stderr);
    await waitFor(
      "the app to run 3 instances",
      async () => {
        const tasks = await cluster.getTasks(false);
        return (
          tasks.filter(
            (t) => t.info?.taskId.startsWith("stuck.") && t.status?.state === TaskState.TASK_RUNNING,
          ).length === 3
        );
      },
      40_000,
    );
    assert.ok(
      logRecords(service!.lines.join("\n")).some(
        (r) => r.msg === "launches accepted again" && r.app === "stuck",
      ),
      "the success is logged once",
    );
    const refusedInAll = refusals("stuck").length;
    assert.ok(refusedInAll <= 6, `${refusedInAll} refusals in all (a hot loop makes hundreds)`);
  });
});
