// What `yardctl get` prints beyond the plain tables: framework names in the tasks table, the
// -o wide columns, and the new kinds (jobs, deployments, releases). Tiny inputs, expected
// output inline.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { deploymentsTable, jobRow, jobsTable } from "../../cli/framework-views.js";
import { releasesTable } from "../../cli/release-views.js";
import { agentWideRow, frameworkNames, tasksTable, taskWideRow } from "../../cli/views.js";
import { Job } from "../../proto/gen/yard/v1/batch.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { AppStatus } from "../../proto/gen/yard/v1/deploy.js";
import { AgentState, FrameworkState, TaskRecord } from "../../proto/gen/yard/v1/operator.js";
import { ListReleasesResponse } from "../../proto/gen/yard/v1/release.js";

const task = TaskRecord.fromPartial({
  info: { taskId: "t1", agentId: "agent-1", resources: { ports: [{ begin: 31000, end: 31001 }] } },
  frameworkId: "fw-1",
  status: { state: TaskState.TASK_RUNNING },
  createdAt: 1000,
});
const names = frameworkNames([
  FrameworkState.fromPartial({ info: { id: "fw-1", name: "service" } }),
  FrameworkState.fromPartial({ info: { id: "fw-2", name: "" } }),
]);

describe("tasks", () => {
  test("the table names the framework; one the master does not know shows by its id", () => {
    const other = { ...task, info: { ...task.info!, taskId: "t2" }, frameworkId: "fw-9" };
    assert.equal(
      tasksTable([task, other], 1010, { frameworkNames: names }),
      "ID   FRAMEWORK   AGENT     STATE     HEALTH   CPU   MEM   AGE   MESSAGE\n" +
        "t1   service     agent-1   RUNNING   -        -     -     10s\n" +
        "t2   fw-9        agent-1   RUNNING   -        -     -     10s\n",
    );
  });

  test("wide keeps the framework id and adds the agent's hostname and the ports", () => {
    assert.deepEqual(
      taskWideRow(task, 1010, { frameworkNames: names, agentHostnames: new Map([["agent-1", "host-1"]]) }),
      ["t1", "service", "fw-1", "agent-1", "host-1", "RUNNING", "-", "-", "-", "31000-31001", "10s", ""],
    );
  });
});

test("agents wide: disk, ports, executors, version, heartbeat and age", () => {
  const a = AgentState.fromPartial({
    info: {
      id: "agent-1",
      hostname: "h1",
      resources: { cpus: 4, mem: 1024, disk: 2048, ports: [{ begin: 31000, end: 31099 }] },
      attributes: [{ name: "zone", value: "a" }],
      executors: ["process", "docker"],
      version: "0.1.0",
    },
    status: "ACTIVE",
    allocated: { cpus: 1, mem: 0, disk: 100, ports: [] },
    registeredAt: 1000,
    lastHeartbeat: 1195,
    runningTasks: 1,
  });
  assert.deepEqual(agentWideRow(a, 1200), [
    "agent-1",
    "h1",
    "ACTIVE",
    "-",
    "1/4",
    "0/1024",
    "100/2048",
    "31000-31099",
    "1",
    "process,docker",
    "0.1.0",
    "5s ago",
    "3m",
    "zone=a",
  ]);
});

describe("jobs", () => {
  const job = Job.fromPartial({
    id: "job-1",
    spec: {
      name: "hello",
      tasks: 3,
      command: { value: "echo", arguments: ["hi"] },
      resources: { cpus: 0.5, mem: 64 },
      maxRetries: 1,
    },
    state: "RUNNING",
    tasks: [
      { index: 0, taskId: "job-1-0", state: TaskState.TASK_FINISHED, agentId: "agent-1" },
      { index: 1, taskId: "job-1-1", state: TaskState.TASK_RUNNING, agentId: "agent-2" },
    ],
    createdAt: 1000,
  });

  test("a row: tasks finished of all, age, how long it has run", () => {
    assert.deepEqual(jobRow(job, 1030), ["job-1", "hello", "RUNNING", "1/3", "30s", "30s", ""]);
    assert.deepEqual(jobRow({ ...job, state: "SUCCEEDED", finishedAt: 1005 }, 1030)[5], "5s");
  });

  test("wide adds resources, retries, agents and the command", () => {
    assert.equal(
      jobsTable([job], 1030, true),
      "ID      NAME    STATE     TASKS   CPUS   MEM   RETRIES   AGENTS            AGE   DURATION   COMMAND   MESSAGE\n" +
        "job-1   hello   RUNNING   1/3     0.5    64    1         agent-1,agent-2   30s   30s        echo hi\n",
    );
  });
});

describe("deployments", () => {
  const apps = [
    AppStatus.fromPartial({
      name: "web",
      deployment: {
        id: "web-2-abc",
        fromRevision: 1,
        toRevision: 2,
        state: "PAUSED",
        step: 2,
        steps: 4,
        stepTargets: [1, 2, 3, 4],
        startedAt: 1000,
        message: "step 2 waits",
      },
    }),
    AppStatus.fromPartial({ name: "idle" }),
    AppStatus.fromPartial({
      name: "api",
      deployment: {
        id: "api-3-def",
        fromRevision: 3,
        toRevision: 4,
        state: "ROLLING_BACK",
        rollingBack: true,
        step: 1,
        steps: 2,
        startedAt: 1000,
        message: "rolling back",
        failure: "no progress",
      },
    }),
  ];

  test("one row per app with a deployment: revisions, state, step, why it rolls back", () => {
    assert.equal(
      deploymentsTable(apps, 1060),
      "APP   DEPLOYMENT   REVISION           STATE          STEP   AGE   MESSAGE\n" +
        "web   web-2-abc    1 → 2              PAUSED         2/4    60s   step 2 waits\n" +
        "api   api-3-def    4 → 3 (rollback)   ROLLING_BACK   1/2    60s   rolling back (no progress)\n",
    );
  });

  test("an ended deployment has no step; wide shows the targets and times", () => {
    const ended = [{ ...apps[0], deployment: { ...apps[0].deployment!, state: "SUCCEEDED", endedAt: 1050 } }];
    assert.match(deploymentsTable(ended, 1060), /SUCCEEDED {3}- {4}/);
    assert.match(deploymentsTable(ended, 1060, true), /1,2,3,4 {3}0 {10}- {7}60s ago {3}10s ago/);
  });
});

test("releases: hashes cut to 12 in the table, whole in wide", () => {
  const res = ListReleasesResponse.fromPartial({
    releases: [
      {
        name: "web",
        version: "1.0",
        kind: "tar",
        size: 2048,
        sha256: "a".repeat(64),
        infoHash: "b".repeat(40),
        pieceLength: 16384,
        fileName: "web-1.0.tar",
        createdAt: 1000,
      },
    ],
  });
  assert.equal(
    releasesTable(res, 1010),
    "RELEASE   KIND   SIZE   SHA256         INFO HASH      AGE   AT REST\n" +
      `web@1.0   tar    2KiB   ${"a".repeat(12)}   ${"b".repeat(12)}   10s   not checked yet\n`,
  );
  const wide = releasesTable(res, 1010, true);
  assert.ok(wide.includes("a".repeat(64)) && wide.includes("b".repeat(40)) && wide.includes("web-1.0.tar"));
});
