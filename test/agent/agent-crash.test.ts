// Tasks survive an agent SIGKILL: the next agent process re-attaches and reports their end.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, test } from "node:test";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { taskName } from "../../agent/agent-task.js";
import { Backoff } from "../../agent/backoff.js";
import { processStartTime } from "../../agent/proc-stat.js";
import { killPid, shellTask, tempDir, waitFor } from "./helpers.js";
import { TestMaster } from "./test-master.js";
import { tlsEnv, tlsOf } from "../tls-fixture.js";

const runAgent = path.join(path.dirname(fileURLToPath(import.meta.url)), "run-agent.js");

test("backoff doubles from 200 ms to 5 s, jittered into [50%, 100%] of each step", () => {
  const top = new Backoff(200, 5000, () => 1);
  assert.deepEqual(
    Array.from({ length: 8 }, () => top.next()),
    [200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
  const bottom = new Backoff(200, 5000, () => 0);
  assert.deepEqual([bottom.next(), bottom.next()], [100, 200]);
  bottom.reset();
  assert.equal(bottom.next(), 100);
});

test("a task outlives an agent SIGKILL and the restarted agent reports how it ended", async () => {
  const master = new TestMaster();
  await master.start();
  const dataDir = tempDir("crash");
  const children: ChildProcess[] = [];
  let taskPid: number | undefined;
  after(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    killPid(taskPid);
    await master.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  const spawnAgent = () => {
    const c = spawn(
      process.execPath,
      [
        runAgent,
        JSON.stringify({ master: master.address, dataDir, statusRetryMs: 200, usageIntervalMs: 500 }),
      ],
      {
        stdio: ["ignore", "ignore", "ignore"],
        env: { ...process.env, ...tlsEnv(), YARD_LOG_LEVEL: "error" },
      },
    );
    children.push(c);
    return c;
  };

  const first = spawnAgent();
  const s = await master.waitStreams(1);
  // The task ends only when the test says so (the file `go`), however slow the machine is.
  s.call.write({
    runTask: {
      user: "",
      frameworkId: "fw",
      task: shellTask("c-task", "echo $$ > pid; until [ -e go ]; do sleep 0.05; done; echo done; exit 9"),
    },
  });
  const running = await waitFor("RUNNING", () =>
    master
      .all("status")
      .find((u) => u.status?.taskId === "c-task" && u.status.state === TaskState.TASK_RUNNING),
  );
  s.call.write({ ack: { taskId: "c-task", uuid: running.status!.uuid, frameworkId: "fw" } });
  const sandbox = path.join(dataDir, "sandboxes", taskName("fw", "c-task"));
  taskPid = await waitFor("the task's pid", () => {
    const text = fs.existsSync(path.join(sandbox, "pid"))
      ? fs.readFileSync(path.join(sandbox, "pid"), "utf8")
      : "";
    return text.endsWith("\n") ? Number(text) : undefined;
  });
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));

  assert.notEqual(processStartTime(taskPid), undefined, "the task still runs after the agent died");

  spawnAgent();
  const s2 = await master.waitStreams(2);
  assert.equal(s2.register.agentId, "agent-1");
  assert.deepEqual(
    s2.register.tasks.map((t) => t.task?.taskId),
    ["c-task"],
  );
  fs.writeFileSync(path.join(sandbox, "go"), "");
  const failed = await waitFor("FAILED", () =>
    master
      .all("status")
      .find((u) => u.status?.taskId === "c-task" && u.status.state === TaskState.TASK_FAILED),
  );
  assert.equal(failed.status!.exitCode, 9);
  assert.equal(fs.readFileSync(path.join(sandbox, "stdout"), "utf8"), "done\n");
});

test("bad options are refused with the field and the value", async () => {
  const { startAgent } = await import("../../agent/agent-daemon.js");
  const dataDir = tempDir("badopts");
  try {
    await assert.rejects(
      startAgent({ ...tlsOf("agent"), master: "127.0.0.1:1", dataDir, statusRetryMs: -5 }),
      /statusRetryMs: -5/,
    );
    await assert.rejects(
      startAgent({ ...tlsOf("agent"), master: "127.0.0.1:1", dataDir, cpus: Number.NaN }),
      /cpus: NaN/,
    );
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
