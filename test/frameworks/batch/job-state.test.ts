import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Reason, type TaskStatus, TaskState } from "../../../framework-sdk/index.js";
import {
  applyTaskStatus,
  JobState,
  killJob,
  markLaunched,
  markLaunchFailed,
  newJob,
} from "../../../frameworks/batch/job-state.js";
import type { JobSpec } from "../../../proto/gen/yard/v1/batch.js";

function spec(tasks: number, maxRetries = 0): JobSpec {
  return {
    name: "j",
    command: { value: "true", arguments: [], shell: true, env: {} },
    resources: { cpus: 1, mem: 32, disk: 0, ports: [] },
    tasks,
    maxRetries,
    ports: 0,
    executor: "",
    container: undefined,
  };
}

function st(taskId: string, state: TaskState, extra: Partial<TaskStatus> = {}): TaskStatus {
  return {
    taskId,
    state,
    agentId: "a1",
    frameworkId: "f",
    message: "",
    reason: "",
    uuid: "u",
    timestamp: 0,
    source: "agent",
    ...extra,
  };
}

describe("job state machine", () => {
  test("PENDING -> RUNNING -> SUCCEEDED when every task finishes", () => {
    const job = newJob("j-1", spec(2), 100);
    assert.equal(job.state, JobState.PENDING);
    assert.deepEqual(
      job.tasks.map((t) => t.taskId),
      ["j-1.0.0", "j-1.1.0"],
    );
    markLaunched(job, 0, "a1");
    assert.equal(job.state, JobState.RUNNING);
    markLaunched(job, 1, "a1");
    applyTaskStatus(job, st("j-1.0.0", TaskState.TASK_RUNNING), 101);
    applyTaskStatus(job, st("j-1.0.0", TaskState.TASK_FINISHED, { exitCode: 0 }), 102);
    assert.equal(job.state, JobState.RUNNING);
    applyTaskStatus(job, st("j-1.1.0", TaskState.TASK_FINISHED, { exitCode: 0 }), 103);
    assert.equal(job.state, JobState.SUCCEEDED);
    assert.equal(job.finishedAt, 103);
  });

  test("a failed task is retried with a new task id until max_retries", () => {
    const job = newJob("j-2", spec(1, 1), 0);
    markLaunched(job, 0, "a1");
    const c1 = applyTaskStatus(
      job,
      st("j-2.0.0", TaskState.TASK_FAILED, { exitCode: 3, message: "exited with code 3" }),
      1,
    );
    assert.deepEqual(c1.tasks, [0]);
    assert.equal(job.tasks[0].taskId, "j-2.0.1");
    assert.equal(job.tasks[0].attempt, 1);
    assert.equal(job.tasks[0].state, TaskState.TASK_STATE_UNSPECIFIED);
    assert.equal(job.state, JobState.RUNNING);
    // A late update of the old attempt changes nothing.
    assert.deepEqual(applyTaskStatus(job, st("j-2.0.0", TaskState.TASK_FAILED), 2).tasks, []);
    markLaunched(job, 0, "a1");
    applyTaskStatus(job, st("j-2.0.1", TaskState.TASK_LOST, { message: "agent lost" }), 3);
    assert.equal(job.state, JobState.FAILED);
    assert.match(job.message, /task 0 failed after 2 attempt\(s\): LOST: agent lost/);
  });

  test("an UNREACHABLE task is waited for: back RUNNING, its end counts as usual", () => {
    const job = newJob("j-u", spec(1, 0), 0);
    markLaunched(job, 0, "a1");
    applyTaskStatus(job, st("j-u.0.0", TaskState.TASK_RUNNING), 1);
    const unreachable = st("j-u.0.0", TaskState.TASK_UNREACHABLE, { reason: Reason.AGENT_UNREACHABLE });
    assert.deepEqual(applyTaskStatus(job, unreachable, 2).kill, []);
    assert.equal(job.tasks[0].taskId, "j-u.0.0", "no new attempt while it may come back");
    assert.equal(job.state, JobState.RUNNING);
    applyTaskStatus(job, st("j-u.0.0", TaskState.TASK_RUNNING, { reason: Reason.AGENT_REREGISTERED }), 3);
    applyTaskStatus(job, st("j-u.0.0", TaskState.TASK_FINISHED, { exitCode: 0 }), 4);
    assert.equal(job.state, JobState.SUCCEEDED);
  });

  test("an UNREACHABLE task whose agent is gone (LOST) is retried", () => {
    const job = newJob("j-g", spec(1, 1), 0);
    markLaunched(job, 0, "a1");
    applyTaskStatus(job, st("j-g.0.0", TaskState.TASK_UNREACHABLE, { reason: Reason.AGENT_UNREACHABLE }), 1);
    applyTaskStatus(job, st("j-g.0.0", TaskState.TASK_LOST, { reason: Reason.AGENT_GONE }), 2);
    assert.equal(job.tasks[0].taskId, "j-g.0.1");
    assert.equal(job.tasks[0].state, TaskState.TASK_STATE_UNSPECIFIED);
    assert.equal(job.state, JobState.RUNNING);
  });

  test("a terminal state is final: nothing after it changes the task", () => {
    const job = newJob("j-f", spec(2, 0), 0);
    markLaunched(job, 0, "a1");
    applyTaskStatus(job, st("j-f.0.0", TaskState.TASK_FINISHED, { exitCode: 0 }), 1);
    for (const late of [TaskState.TASK_LOST, TaskState.TASK_RUNNING, TaskState.TASK_FAILED]) {
      assert.deepEqual(applyTaskStatus(job, st("j-f.0.0", late), 2).tasks, [], TaskState[late]);
    }
    assert.equal(job.tasks[0].state, TaskState.TASK_FINISHED);
  });

  test("a task out of retries fails the job, kills its live tasks, and cancels the pending ones", () => {
    const job = newJob("j-3", spec(3), 0);
    markLaunched(job, 0, "a1");
    markLaunched(job, 1, "a1");
    const change = applyTaskStatus(job, st("j-3.0.0", TaskState.TASK_FAILED), 1);
    assert.equal(job.state, JobState.FAILED);
    assert.deepEqual(change.kill, ["j-3.1.0"]);
    assert.equal(job.tasks[2].state, TaskState.TASK_KILLED);
  });

  test("killJob kills live tasks; their KILLED updates keep the job KILLED", () => {
    const job = newJob("j-4", spec(2, 5), 0);
    markLaunched(job, 0, "a1");
    const change = killJob(job, 5);
    assert.equal(job.state, JobState.KILLED);
    assert.deepEqual(change.kill, ["j-4.0.0"]);
    assert.equal(job.tasks[1].state, TaskState.TASK_KILLED);
    applyTaskStatus(job, st("j-4.0.0", TaskState.TASK_KILLED), 6);
    assert.equal(job.state, JobState.KILLED);
    assert.equal(job.tasks[0].attempt, 0, "no retry after a kill");
    assert.deepEqual(killJob(job, 7).kill, []);
  });

  test("a launch the master never recorded goes back to pending without using a retry", () => {
    const job = newJob("j-5", spec(1, 0), 0);
    markLaunched(job, 0, "a1");
    applyTaskStatus(job, st("j-5.0.0", TaskState.TASK_LOST, { reason: Reason.TASK_UNKNOWN, uuid: "" }), 1);
    assert.equal(job.tasks[0].state, TaskState.TASK_STATE_UNSPECIFIED);
    assert.equal(job.tasks[0].taskId, "j-5.0.0");
    assert.notEqual(job.state, JobState.FAILED);
  });

  test("a refused launch returns the task to pending", () => {
    const job = newJob("j-6", spec(1), 0);
    markLaunched(job, 0, "a1");
    markLaunchFailed(job, 0, "offer expired");
    assert.equal(job.tasks[0].state, TaskState.TASK_STATE_UNSPECIFIED);
    assert.match(job.tasks[0].message, /offer expired/);
  });
});
