import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Reason } from "../../common/reasons.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";
import { LaunchError } from "../../agent/executor.js";
import { RecordingExecutor, killPid, shellTask, tempDir, waitFor } from "./helpers.js";

const AGENT = "agent-test";
const FW = "fw-test";

describe("process executor", () => {
  const dataDir = tempDir("exec");
  const rec = new RecordingExecutor(dataDir);
  const pids: number[] = [];
  after(async () => {
    await rec.executor.stop();
    for (const p of pids) killPid(p);
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const launch = async (info: ReturnType<typeof shellTask>) => {
    const state = await rec.executor.launch({ taskId: info.taskId, frameworkId: FW, agentId: AGENT, info });
    pids.push(state.pid as number);
    return state;
  };

  test("stdout lands in the sandbox file, env has PORT0, YARD_* and HOME; exit 0 is FINISHED", async () => {
    await assert.rejects(launch(shellTask("t-env", "  ")), (err: unknown) => err instanceof LaunchError);
    const info = shellTask(
      "t-env",
      'echo "p=$PORT0,$PORT1,$PORT id=$YARD_TASK_ID fw=$YARD_FRAMEWORK_ID home=$HOME x=$X"; echo oops >&2',
      { resources: { cpus: 0.1, mem: 32, disk: 0, ports: [{ begin: 31007, end: 31008 }] } },
    );
    info.command!.env = { X: "y" };
    await launch(info);
    const ended = await rec.waitEnded("t-env");
    assert.equal(ended.state, TaskState.TASK_FINISHED);
    assert.equal(ended.exitCode, 0);
    const sandbox = path.join(dataDir, "sandboxes", "t-env");
    assert.equal(
      fs.readFileSync(rec.executor.logPath("t-env", "stdout"), "utf8"),
      `p=31007,31008,31007 id=t-env fw=${FW} home=${sandbox} x=y\n`,
    );
    assert.equal(fs.readFileSync(path.join(sandbox, "stderr"), "utf8"), "oops\n");
  });

  test("exit 3 is FAILED with exit code 3", async () => {
    await launch(shellTask("t-exit3", "exit 3"));
    const ended = await rec.waitEnded("t-exit3");
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.reason, Reason.COMMAND_EXITED);
    assert.equal(ended.exitCode, 3);
  });

  test("a command that is not found fails with 127, not as a launch failure", async () => {
    await launch(shellTask("t-nf", "no-such-command-anywhere"));
    const ended = await rec.waitEnded("t-nf");
    assert.equal(ended.state, TaskState.TASK_FAILED);
    assert.equal(ended.exitCode, 127);
    assert.equal(ended.reason, Reason.COMMAND_EXITED);
  });

  test("non-shell commands exec value with arguments", async () => {
    const info = shellTask("t-argv", "");
    info.command = { value: "/bin/echo", arguments: ["a b", "it's"], shell: false, env: {} };
    await launch(info);
    await rec.waitEnded("t-argv");
    assert.equal(fs.readFileSync(rec.executor.logPath("t-argv", "stdout"), "utf8"), "a b it's\n");
  });

  test("kill: SIGTERM ends a cooperative task as KILLED well within the grace", async () => {
    await launch(shellTask("t-kill", "sleep 30"));
    const t0 = Date.now();
    // A long grace: ending before it proves SIGTERM did it, however loaded the machine.
    const killed = rec.executor.kill("t-kill", 20_000);
    const ended = await rec.waitEnded("t-kill");
    await killed;
    assert.equal(ended.state, TaskState.TASK_KILLED);
    assert.equal(ended.reason, Reason.KILL_REQUESTED);
    assert.ok(Date.now() - t0 < 15_000, `took ${Date.now() - t0} ms`);
  });

  test("kill: a SIGTERM sent as the wrapper starts its command still reaches the command", async () => {
    // The wrapper ignores SIGTERM from its trap until its command is exec'd; a kill landing
    // there is sent again once the command is up. Killing at once after launch hits that window
    // now and then; ten tries, each of which would wait out the 20 s grace if it were lost.
    for (let i = 0; i < 10; i++) {
      const id = `t-early-kill-${i}`;
      await launch(shellTask(id, "sleep 30"));
      const t0 = Date.now();
      const killed = rec.executor.kill(id, 20_000);
      const ended = await rec.waitEnded(id);
      await killed;
      assert.equal(ended.state, TaskState.TASK_KILLED);
      assert.ok(Date.now() - t0 < 15_000, `try ${i} took ${Date.now() - t0} ms`);
    }
  });

  test("kill: a task that ignores SIGTERM is SIGKILLed after the grace", async () => {
    await launch(shellTask("t-stubborn", "trap '' TERM; echo ready; while true; do sleep 0.1; done"));
    const out = rec.executor.logPath("t-stubborn", "stdout");
    // Its trap is set once it printed: a SIGTERM before that would end it at once.
    await waitFor("the task's trap", () => fs.readFileSync(out, "utf8").includes("ready") || undefined);
    const t0 = Date.now();
    // The executor holds no ref on the event loop (the agent must be able to exit while
    // tasks run), so the test waits by polling.
    const killed = rec.executor.kill("t-stubborn", 600);
    const ended = await rec.waitEnded("t-stubborn");
    const took = Date.now() - t0;
    await killed;
    assert.equal(ended.state, TaskState.TASK_KILLED);
    // Not before the grace; the upper bound only says it did not wait for the task (it never ends).
    assert.ok(took >= 550 && took < 15_000, `took ${took} ms`);
    assert.equal(rec.executor.isRunning("t-stubborn"), false);
  });

  test("a sandbox that cannot be created is a launch failure", async () => {
    fs.writeFileSync(path.join(dataDir, "sandboxes", "t-blocked"), "a file where the sandbox dir should be");
    await assert.rejects(
      launch(shellTask("t-blocked", "true")),
      (err: unknown) => err instanceof LaunchError,
    );
  });
});
