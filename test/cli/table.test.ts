import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { renderTable } from "../../cli/table.js";
import {
  agentRow,
  agentsTable,
  formatAge,
  formatBytes,
  formatEvent,
  frameworkRow,
  taskRow,
} from "../../cli/views.js";
import { instancesTable } from "../../cli/commands/deploy-client.js";
import { HealthState, TaskState } from "../../proto/gen/yard/v1/common.js";
import { AppStatus } from "../../proto/gen/yard/v1/deploy.js";
import { AgentState, FrameworkState, TaskRecord } from "../../proto/gen/yard/v1/operator.js";

describe("renderTable", () => {
  test("columns are as wide as their widest cell; no trailing blanks", () => {
    const out = renderTable(
      ["ID", "STATUS", "NOTE"],
      [
        ["agent-1", "ACTIVE", ""],
        ["a2", "DRAINING", "x"],
      ],
    );
    assert.equal(
      out,
      ["ID        STATUS     NOTE", "agent-1   ACTIVE", "a2        DRAINING   x", ""].join("\n"),
    );
  });

  test("a cell with a line break stays on its row", () => {
    assert.equal(renderTable(["A", "B"], [["x", "one\ntwo"]]), "A   B\nx   one two\n");
  });

  test("headers only", () => {
    assert.equal(renderTable(["ID", "NAME"], []), "ID   NAME\n");
  });
});

describe("views", () => {
  const agent = AgentState.fromPartial({
    info: {
      id: "agent-1",
      hostname: "h1",
      resources: { cpus: 4, mem: 8192, disk: 0, ports: [] },
      attributes: [
        { name: "zone", value: "a" },
        { name: "rack", value: "r1" },
      ],
    },
    status: "ACTIVE",
    allocated: { cpus: 0.5, mem: 128, disk: 0, ports: [] },
    runningTasks: 2,
  });

  test("agent row: used/total CPUs and memory, attributes", () => {
    assert.deepEqual(agentRow(agent), [
      "agent-1",
      "h1",
      "ACTIVE",
      "-",
      "0.5/4",
      "128/8192",
      "2",
      "zone=a,rack=r1",
    ]);
    assert.equal(
      agentsTable([agent]),
      "ID        HOSTNAME   STATUS   CONDITIONS   CPUS    MEM        TASKS   ATTRIBUTES\n" +
        "agent-1   h1         ACTIVE   -            0.5/4   128/8192   2       zone=a,rack=r1\n",
    );
  });

  test("agent row: disk pressure in the conditions column", () => {
    const pressed = { ...agent, conditions: { diskPressure: true, message: "disk full" } };
    assert.equal(agentRow(pressed)[3], "DiskPressure");
  });

  test("framework row: dominant share as a percentage, role * when empty, the registering principal", () => {
    const fw = FrameworkState.fromPartial({
      info: { id: "fw-1", name: "batch", role: "" },
      status: "CONNECTED",
      activeTasks: 3,
      dominantShare: 0.125,
      principal: "batch (framework)",
    });
    assert.deepEqual(frameworkRow(fw), [
      "fw-1",
      "batch",
      "*",
      "batch (framework)",
      "CONNECTED",
      "3",
      "12.5%",
    ]);
  });

  test("task row: usage when known, '-' when not; age from created_at", () => {
    const withUsage = TaskRecord.fromPartial({
      info: { taskId: "t1", agentId: "agent-1" },
      frameworkId: "fw-1",
      status: { state: TaskState.TASK_RUNNING, message: "" },
      createdAt: 1000,
      usage: { taskId: "t1", cpuSeconds: 1.234, memBytes: 64 * 1024 * 1024, timestamp: 1090 },
    });
    assert.deepEqual(taskRow(withUsage, 1095), [
      "t1",
      "fw-1",
      "agent-1",
      "RUNNING",
      "-",
      "1.23s",
      "64MiB",
      "95s",
      "",
    ]);
    const noUsage = TaskRecord.fromPartial({
      info: { taskId: "t2" },
      frameworkId: "fw-1",
      status: { state: TaskState.TASK_FAILED, message: "exited with code 3" },
      createdAt: 1000,
    });
    assert.deepEqual(taskRow(noUsage, 1000 + 3 * 3600), [
      "t2",
      "fw-1",
      "-",
      "FAILED",
      "-",
      "-",
      "-",
      "3h",
      "exited with code 3",
    ]);
  });

  test("task row: the HEALTH column shows the agent's verdict of a task with a check", () => {
    const row = (health: HealthState | undefined, check = true) =>
      taskRow(
        TaskRecord.fromPartial({
          info: { taskId: "t3", healthCheck: check ? { kind: "tcp" } : undefined },
          status: {
            state: TaskState.TASK_RUNNING,
            health: health === undefined ? undefined : { state: health },
          },
        }),
        0,
      )[4];
    assert.equal(row(HealthState.HEALTH_HEALTHY), "healthy");
    assert.equal(row(HealthState.HEALTH_UNHEALTHY), "unhealthy");
    assert.equal(row(HealthState.HEALTH_UNKNOWN), "unknown");
    assert.equal(row(undefined), "-");
    assert.equal(row(undefined, false), "-");
  });

  test("rollout status: each instance's HEALTH is ready, healthy, unhealthy or unknown", () => {
    const task = (taskId: string, health: string, healthy = false, ready = false) => ({
      taskId,
      revision: 2,
      hostname: "host-1",
      port: 31000,
      state: TaskState.TASK_RUNNING,
      health,
      healthy,
      ready,
    });
    const out = instancesTable(
      AppStatus.fromPartial({
        tasks: [
          task("a", "healthy", true, true),
          task("b", "healthy", true),
          task("c", "unhealthy"),
          task("d", "unknown"),
        ],
      }),
    );
    assert.deepEqual(
      out
        .trim()
        .split("\n")
        .slice(1)
        .map((l) => l.split(/\s+/).at(-1)),
      ["ready", "healthy", "unhealthy", "unknown"],
    );
  });

  test("ages and sizes", () => {
    assert.equal(formatAge(5), "5s");
    assert.equal(formatAge(600), "10m");
    assert.equal(formatAge(3 * 86400), "3d");
    assert.equal(formatBytes(512), "512B");
    assert.equal(formatBytes(1536), "1.5KiB");
  });

  test("one line per event", () => {
    const line = formatEvent({
      index: 7,
      timestamp: 0,
      type: "TASK_UPDATED",
      agentId: "agent-1",
      frameworkId: "",
      taskId: "t1",
      taskState: TaskState.TASK_FINISHED,
      message: "exited\nwith code 0",
      principal: "",
      action: "",
      object: "",
      result: "",
    });
    assert.equal(
      line,
      "1970-01-01T00:00:00.000Z #7 TASK_UPDATED agent=agent-1 task=t1 state=FINISHED exited with code 0",
    );
  });
});
