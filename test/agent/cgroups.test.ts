import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Reason } from "../../common/reasons.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import {
  RecordingExecutor,
  cgroupSkip,
  cgroupSupport,
  killPid,
  shellTask,
  tempDir,
  waitFor,
} from "./helpers.js";

const AGENT = "agent-cgtest";
const MIB = 1024 * 1024;

/** The task's cgroup dirs for memory and cpu, whichever version the host has. */
function taskDirs(taskId: string): { memory: string; cpu: string } {
  const s = cgroupSupport;
  if (s.version === 2) {
    const d = path.join(s.root, "yard", AGENT, taskId);
    return { memory: d, cpu: d };
  }
  if (s.version === 1) {
    return {
      memory: path.join(s.memory, "yard", AGENT, taskId),
      cpu: path.join(s.cpu, "yard", AGENT, taskId),
    };
  }
  throw new Error("no cgroups");
}

describe("process executor cgroups", { skip: cgroupSkip }, () => {
  test("cgroups are writable on this host", () => {
    assert.notEqual(
      cgroupSupport.version,
      0,
      `no writable cgroups: ${cgroupSupport.version === 0 ? cgroupSupport.reason : ""}`,
    );
  });

  const dataDir = tempDir("cg");
  const rec = new RecordingExecutor(dataDir);
  const pids: number[] = [];
  after(async () => {
    await rec.executor.stop();
    for (const p of pids) killPid(p);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test("limits are written to the task's cgroup, the task runs in it, usage is read from it", async () => {
    const info = shellTask("cg-limits", "sleep 30", {
      resources: { cpus: 0.5, mem: 48, disk: 0, ports: [] },
    });
    const state = await rec.executor.launch({ taskId: info.taskId, frameworkId: "fw", agentId: AGENT, info });
    pids.push(state.pid as number);
    const dirs = taskDirs("cg-limits");
    const procs = await waitFor("the wrapper to join its cgroup", () => {
      const text = fs.readFileSync(path.join(dirs.memory, "cgroup.procs"), "utf8").trim();
      return text === "" ? undefined : text.split("\n").map(Number);
    });
    assert.ok(procs.includes(state.pid as number), `pid ${state.pid} not in ${procs}`);
    const read = (d: string, f: string) => fs.readFileSync(path.join(d, f), "utf8").trim();
    if (cgroupSupport.version === 1) {
      assert.equal(Number(read(dirs.memory, "memory.limit_in_bytes")), 48 * MIB);
      assert.equal(read(dirs.cpu, "cpu.cfs_period_us"), "100000");
      assert.equal(read(dirs.cpu, "cpu.cfs_quota_us"), "50000");
      assert.equal(read(dirs.cpu, "cpu.shares"), "512");
    } else {
      assert.equal(Number(read(dirs.memory, "memory.max")), 48 * MIB);
      assert.equal(read(dirs.cpu, "cpu.max"), "50000 100000");
    }
    // A process moved into a cgroup leaves the pages it already had charged to its old one:
    // the new cgroup's usage grows from 0 as the task touches memory, so wait for it.
    const usage = await waitFor("memory usage read from the task's cgroup", () => {
      const u = rec.executor.usage("cg-limits");
      return u && u.memBytes > 0 ? u : undefined;
    });
    assert.ok(usage.memBytes > 0);
    const killed = rec.executor.kill("cg-limits", 2000);
    const ended = await rec.waitEnded("cg-limits");
    await killed;
    assert.equal(ended.state, TaskState.TASK_KILLED);
    assert.equal(fs.existsSync(dirs.memory), false, "the task's cgroup is removed after it ended");
    assert.equal(fs.existsSync(dirs.cpu), false);
  });

  test("a task that allocates past its memory limit is OOM-killed and FAILED with REASON_MEMORY_LIMIT", async () => {
    const info = shellTask("cg-oom", `node -e "const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))"`, {
      resources: { cpus: 1, mem: 32, disk: 0, ports: [] },
    });
    const state = await rec.executor.launch({ taskId: info.taskId, frameworkId: "fw", agentId: AGENT, info });
    pids.push(state.pid as number);
    const ended = await rec.waitEnded("cg-oom", 20_000);
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.reason, Reason.MEMORY_LIMIT);
    assert.equal(ended.message, "task exceeded its memory limit of 32 MiB and was OOM-killed");
    assert.equal(fs.existsSync(taskDirs("cg-oom").memory), false);
  });
});

test("without cgroups a task still runs, in its own process group", async () => {
  const dataDir = tempDir("nocg");
  const rec = new RecordingExecutor(dataDir, { cgroups: false });
  try {
    const info = shellTask("plain", "ps -o pgid= -p $$ > pgid; exit 0");
    const state = await rec.executor.launch({ taskId: "plain", frameworkId: "fw", agentId: AGENT, info });
    const ended = await rec.waitEnded("plain");
    assert.equal(ended.state, TaskState.TASK_FINISHED);
    const pgid = Number(fs.readFileSync(path.join(dataDir, "sandboxes", "plain", "pgid"), "utf8").trim());
    assert.equal(pgid, state.pid, "the wrapper leads its own process group");
  } finally {
    await rec.executor.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
