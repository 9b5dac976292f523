import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AgentMetrics } from "../../agent/agent-metrics.js";
import { TaskState } from "../../common/task-states.js";

const progress = (state: string, downloaded: number) => ({
  release: "web@1",
  sha256: "",
  state,
  downloaded,
  uploaded: 0,
  size: 4_000_000,
  downloadRate: 0,
  uploadRate: 0,
  error: "",
});

describe("AgentMetrics", () => {
  test("launch latency runs from the launch to RUNNING; tasks and resources are read at scrape time", async () => {
    let now = 0;
    const states = [TaskState.TASK_RUNNING, TaskState.TASK_RUNNING, TaskState.TASK_STAGING];
    const m = new AgentMetrics(
      {
        taskStates: () => states,
        total: () => ({ cpus: 4, mem: 1024, disk: 0, ports: [] }),
        used: () => ({ cpus: 0.5, mem: 0, disk: 0, ports: [] }),
      },
      () => now,
    );
    m.launchReceived("fw_t1");
    now = 250;
    m.stateReported("fw_t1", TaskState.TASK_STARTING);
    now = 750;
    m.stateReported("fw_t1", TaskState.TASK_RUNNING);
    m.stateReported("fw_t1", TaskState.TASK_RUNNING); // a health update of the same state: counted once
    m.fetchProgress(progress("FETCHING", 1_000_000));
    now = 2750;
    m.fetchProgress(progress("DONE", 4_000_000));
    m.healthProbe("http", true, 0.01);
    const text = await m.registry.metrics();
    assert.match(text, /yard_agent_task_launches_total 1/);
    assert.match(text, /yard_agent_task_launch_seconds_count 1\n/);
    assert.match(text, /yard_agent_task_launch_seconds_sum 0.75\n/);
    assert.match(text, /yard_agent_tasks\{state="RUNNING"\} 2/);
    assert.match(text, /yard_agent_tasks\{state="STAGING"\} 1/);
    assert.match(text, /yard_agent_resource_total\{resource="mem_bytes"\} 1073741824/);
    assert.match(text, /yard_agent_resource_used\{resource="cpus"\} 0.5/);
    assert.match(text, /yard_agent_release_fetch_bytes_total 4000000/);
    // 4 MB from the first report (t=750) to DONE (t=2750): 2 MB/s.
    assert.match(text, /yard_agent_release_fetch_throughput_bytes_per_second_sum 2000000/);
    assert.match(text, /yard_agent_health_check_seconds_count\{kind="http",result="healthy"\} 1/);
  });
});
