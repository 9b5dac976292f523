// Defect: `truncate -s 0 master.db` and a restart made a new, empty cluster that refused every
// agent as STALE_AGENT, and the agents killed all their tasks. Now the master refuses to start
// on an empty registry in a data dir that held a cluster; started afresh on purpose, it is
// another cluster, and the agent keeps its task running, refused WRONG_CLUSTER, until the
// operator puts the registry back.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { processStartTime } from "../../agent/proc-stat.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import {
  masterDataDir,
  runRefusedMaster,
  sandboxOf,
  stillRunning,
  stopGracefully,
  taskPid,
  waitForOutput,
} from "./identity-helpers.js";

const cluster = new TestCluster();
let framework: QueueFramework | undefined;
after(async () => {
  await framework?.driver.stop();
  await cluster.stop();
});

test("an emptied registry: the master refuses to start, and a cluster started afresh cannot make the agent kill its task", async () => {
  await cluster.startMaster();
  await cluster.startAgent();
  await cluster.waitForAgents(1);
  framework = new QueueFramework(cluster.masterAddress, cluster.token, "keeper");
  await framework.start();
  framework.submit({ taskId: "keeper", command: "echo $$ > pid; exec sleep 600" });
  await framework.waitForState("keeper", TaskState.TASK_RUNNING);
  const pid = await taskPid(sandboxOf(cluster, 0, framework.driver.frameworkId!, "keeper"));
  const started = processStartTime(pid);
  await framework.driver.stop();

  const dataDir = masterDataDir(cluster);
  const db = join(dataDir, "master.db");
  const oldCluster = readFileSync(join(dataDir, "cluster-id"), "utf8").trim();
  assert.match(oldCluster, /^cluster-/);
  await stopGracefully(cluster.master);
  copyFileSync(db, join(cluster.root, "master.db.backup"));
  truncateSync(db, 0);

  // 1. Without --start-afresh the master refuses, naming the data dir and what it found.
  const refused = await runRefusedMaster(cluster);
  assert.equal(refused.code, 1, `the master must exit non-zero: ${refused.stdout}${refused.stderr}`);
  assert.match(
    refused.stderr,
    new RegExp(`master data dir ${dataDir}: the registry \\(master\\.db\\) is empty`),
  );
  assert.match(refused.stderr, new RegExp(`identity file cluster-id names cluster ${oldCluster}`));
  assert.match(refused.stderr, /--start-afresh/);
  // A refused start leaves no registry behind that a second try would take for the cluster's.
  assert.equal((await runRefusedMaster(cluster)).code, 1, "a second try is refused too");
  assert.ok(stillRunning(pid, started), "the task runs while the master refuses to start");

  // 2. Started afresh: a new cluster. The agent is refused WRONG_CLUSTER and acts on nothing.
  await cluster.startMaster(["--start-afresh"]);
  const newCluster = readFileSync(join(dataDir, "cluster-id"), "utf8").trim();
  assert.notEqual(newCluster, oldCluster);
  await waitForOutput(
    cluster.agents[0]!,
    /the master belongs to another cluster: keeping every task running/,
    "the agent to be refused WRONG_CLUSTER",
  );
  assert.deepEqual(await cluster.getAgents(), [], "the new cluster registered no agent");
  assert.ok(stillRunning(pid, started), "the task runs after the agent was refused by another cluster");

  // 3. The operator puts the registry back: the agent registers again, its task still RUNNING.
  await stopGracefully(cluster.master);
  copyFileSync(join(cluster.root, "master.db.backup"), db);
  for (const f of ["master.db-wal", "master.db-shm"]) assert.equal(existsSync(join(dataDir, f)), false);
  await cluster.startMaster();
  assert.equal(readFileSync(join(dataDir, "cluster-id"), "utf8").trim(), oldCluster);
  await cluster.waitForAgents(1);
  const task = await waitFor("the task in the restored registry", async () =>
    (await cluster.getTasks()).find((t) => t.status?.taskId === "keeper"),
  );
  assert.equal(task.status?.state, TaskState.TASK_RUNNING);
  assert.ok(stillRunning(pid, started), "the same task process ran through it all");
});
