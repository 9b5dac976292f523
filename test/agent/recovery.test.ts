// Re-attaching after an agent restart: a fresh executor built from the checkpoint finds the
// task processes that the previous one started.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Reason } from "../../common/reasons.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { Checkpoint } from "../../agent/checkpoint.js";
import { processStartTime } from "../../agent/proc-stat.js";
import { RecordingExecutor, killPid, shellTask, tempDir, waitFor } from "./helpers.js";

const AGENT = "agent-recover";

describe("re-attach after a restart", () => {
  const dataDir = tempDir("recover");
  const pids: number[] = [];
  const executors: RecordingExecutor[] = [];
  after(async () => {
    for (const e of executors) await e.executor.stop();
    for (const p of pids) killPid(p);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Launches in a first executor, checkpoints like the agent does, then "restarts". */
  async function launchThenRestart(
    taskId: string,
    cmd: string,
  ): Promise<{ pid: number; checkpoint: Checkpoint }> {
    const first = new RecordingExecutor(dataDir);
    executors.push(first);
    const info = shellTask(taskId, cmd);
    const checkpoint = new Checkpoint(dataDir);
    checkpoint.addTask({
      name: taskId,
      taskId,
      frameworkId: "fw",
      info,
      executor: "process",
      state: TaskState.TASK_STAGING,
      killRequested: false,
    });
    const state = await first.executor.launch({ taskId, frameworkId: "fw", agentId: AGENT, info });
    checkpoint.setExecutorState("fw", taskId, state);
    pids.push(state.pid as number);
    await first.executor.stop();
    checkpoint.close();
    return { pid: state.pid as number, checkpoint: new Checkpoint(dataDir) };
  }

  async function recoverAll(checkpoint: Checkpoint, only: string): Promise<RecordingExecutor> {
    const second = new RecordingExecutor(dataDir);
    executors.push(second);
    for (const t of checkpoint.tasks().filter((x) => x.taskId === only)) {
      await second.executor.recover({
        ...t,
        agentId: AGENT,
        state: t.executorState!,
        killRequested: t.killRequested,
      });
    }
    return second;
  }

  test("a still-running task is re-attached and its exit code seen later", async () => {
    // It ends when the test creates `go` in its sandbox, so it still runs at the re-attach.
    const { checkpoint } = await launchThenRestart(
      "r-running",
      "until [ -e go ]; do sleep 0.05; done; exit 4",
    );
    const second = await recoverAll(checkpoint, "r-running");
    checkpoint.close();
    assert.equal(second.executor.isRunning("r-running"), true);
    fs.writeFileSync(path.join(dataDir, "sandboxes", "r-running", "go"), "");
    const ended = await second.waitEnded("r-running");
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.exitCode, 4);
    assert.equal(ended.reason, Reason.COMMAND_EXITED);
  });

  test("a re-attached task can be killed", async () => {
    const { checkpoint } = await launchThenRestart("r-kill", "sleep 30");
    const second = await recoverAll(checkpoint, "r-kill");
    checkpoint.close();
    const killed = second.executor.kill("r-kill", 3000);
    const ended = await second.waitEnded("r-kill");
    await killed;
    assert.equal(ended.state, TaskState.TASK_KILLED);
  });

  test("a task that ended while the agent was down is reported with its exit code", async () => {
    const { checkpoint } = await launchThenRestart("r-ended", "sleep 0.2; exit 5");
    await waitFor("the exit status file", () =>
      fs.existsSync(path.join(dataDir, "sandboxes", "r-ended", ".yard", "exit_status")),
    );
    const second = await recoverAll(checkpoint, "r-ended");
    checkpoint.close();
    const ended = await second.waitEnded("r-ended");
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.exitCode, 5);
  });

  test("a task that died without an exit status is FAILED with REASON_EXIT_STATUS_UNKNOWN", async () => {
    const { pid, checkpoint } = await launchThenRestart("r-lost", "sleep 30");
    killPid(pid);
    await waitFor("the task to die", () => processStartTime(pid) === undefined || undefined);
    const second = await recoverAll(checkpoint, "r-lost");
    checkpoint.close();
    const ended = await second.waitEnded("r-lost");
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.reason, Reason.EXIT_STATUS_UNKNOWN);
    assert.equal(ended.exitCode, undefined);
  });

  test("a reused pid (other start time) is not taken for the task", async () => {
    const second = new RecordingExecutor(dataDir);
    executors.push(second);
    const sandbox = path.join(dataDir, "sandboxes", "r-reused");
    fs.mkdirSync(sandbox, { recursive: true });
    await second.executor.recover({
      taskId: "r-reused",
      frameworkId: "fw",
      agentId: AGENT,
      info: shellTask("r-reused", "true"),
      // Our own pid, as if the kernel had given the task's old pid to this process.
      state: {
        pid: process.pid,
        startTime: (processStartTime(process.pid) ?? 0) + 1,
        sandbox,
        memLimitMiB: 0,
      },
      killRequested: false,
    });
    const ended = await second.waitEnded("r-reused");
    assert.equal(ended.reason, Reason.EXIT_STATUS_UNKNOWN);
    // Still alive: the test process was not signalled.
  });
});
