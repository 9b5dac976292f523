import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Registry } from "prom-client";
import { MasterRecorder } from "../../../master/metrics/master-recorder.js";
import { quantileOf, registerStateGauges, resourceSamples } from "../../../master/metrics/state-gauges.js";
import type { AgentState, FrameworkState } from "../../../proto/gen/yard/v1/operator.js";

const res = (cpus: number, mem: number, disk: number) => ({ cpus, mem, disk, ports: [] });

describe("state gauges", () => {
  test("resources in base units: cores and bytes", () => {
    assert.deepEqual(resourceSamples(res(2, 1, 3)), [
      ["cpus", 2],
      ["mem_bytes", 1048576],
      ["disk_bytes", 3145728],
    ]);
  });

  test("quantile by nearest rank", () => {
    assert.equal(quantileOf([], 0.5), 0);
    assert.equal(quantileOf([1, 2, 3, 4], 0.5), 3);
    assert.equal(quantileOf([1, 2, 3, 4], 0.99), 4);
  });

  test("per-agent, per-framework and starvation series read from the view at scrape time", async () => {
    const registry = new Registry();
    const agents = [
      {
        info: { id: "a1", hostname: "h1", resources: res(4, 1024, 0) },
        status: "ACTIVE",
        allocated: res(1, 0, 0),
        offered: res(3, 1024, 0),
      },
      {
        info: { id: "a2", hostname: "h2", resources: res(8, 0, 0) },
        status: "LOST",
        allocated: res(0, 0, 0),
        offered: res(0, 0, 0),
      },
    ] as unknown as AgentState[];
    const frameworks = [
      { info: { id: "f1", name: "svc" }, status: "CONNECTED", dominantShare: 0.25 },
      { info: { id: "f2", name: "old" }, status: "INACTIVE", dominantShare: 0 },
    ] as unknown as FrameworkState[];
    registerStateGauges(
      registry,
      {
        agentStates: () => agents,
        frameworkStates: () => frameworks,
        activeTaskCount: () => 3,
        counters: { placements: 7, offersSent: 9, statusUpdates: 11, cycles: 13 },
        cycleTimes: () => [2, 1],
        offerStarvation: (now) => [{ frameworkId: "f1", name: "svc", seconds: (now - 1000) / 1000 }],
      },
      () => 6000,
    );
    const text = await registry.metrics();
    const has = (line: string) => assert.ok(text.split("\n").includes(line), `missing ${line}\n${text}`);
    has('yard_agents{status="ACTIVE"} 1');
    has('yard_agents{status="LOST"} 1');
    has('yard_agent_resource_capacity{agent_id="a1",hostname="h1",resource="cpus"} 4');
    has('yard_agent_resource_capacity{agent_id="a1",hostname="h1",resource="mem_bytes"} 1073741824');
    has('yard_agent_resource_allocated{agent_id="a1",hostname="h1",resource="cpus"} 1');
    has('yard_agent_resource_offered{agent_id="a1",hostname="h1",resource="cpus"} 3');
    assert.doesNotMatch(text, /agent_id="a2"/, "a LOST agent has no resource series");
    has('yard_framework_dominant_share{framework_id="f1",framework_name="svc"} 0.25');
    assert.doesNotMatch(text, /framework_name="old"/);
    has('yard_framework_offer_starvation_seconds{framework_id="f1",framework_name="svc"} 5');
    has("yard_tasks_active 3");
    has("yard_task_placements_total 7");
    has('yard_allocation_cycle_ms{kind="full",quantile="0.5"} 2');
  });

  test("recording off records nothing; on, the histograms count", async () => {
    const off = new MasterRecorder(false);
    off.cycle("full", 5);
    off.offerAccepted(0, 1000);
    assert.match(await off.registry.metrics(), /yard_offer_accept_latency_seconds_count 0/);
    const on = new MasterRecorder(true);
    on.cycle("full", 5);
    on.offerAccepted(0, 1000);
    on.offerRescinded("timeout");
    const text = await on.registry.metrics();
    assert.match(text, /yard_allocation_cycle_duration_seconds_count\{kind="full"\} 1/);
    assert.match(text, /yard_offer_accept_latency_seconds_sum 1\n/);
    assert.match(text, /yard_offers_rescinded_total\{cause="timeout"\} 1/);
  });
});
