import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseResources } from "../../../framework-sdk/index.js";
import { type PendingTask, planOffers } from "../../../frameworks/batch/batch-planner.js";

function offer(id: string, res: string, executors: string[] = ["process"]) {
  return {
    id,
    frameworkId: "f",
    agentId: `agent-${id}`,
    hostname: id,
    resources: parseResources(res),
    attributes: [],
    executors,
    releases: [],
  };
}

function pending(
  n: number,
  cpus: number,
  mem: number,
  ports = 0,
  executor = "process",
  jobId = "j",
): PendingTask[] {
  return Array.from({ length: n }, (_, index) => ({
    jobId,
    index,
    taskId: `${jobId}.${index}.0`,
    requirement: { cpus, mem, ports },
    executor,
  }));
}

const ids = (plan: ReturnType<typeof planOffers>) =>
  plan.accept.map((p) => `${p.offer.id}:${p.launches.map((l) => l.task.taskId).join(",")}`);

describe("planOffers", () => {
  test("fills offers in order, first come first served, and declines the offers left empty", () => {
    const plan = planOffers(
      [offer("a", "cpus:2;mem:1024"), offer("b", "cpus:2;mem:1024"), offer("c", "cpus:2;mem:1024")],
      pending(3, 1, 256),
    );
    assert.deepEqual(ids(plan), ["a:j.0.0,j.1.0", "b:j.2.0"]);
    assert.deepEqual(
      plan.decline.map((o) => o.id),
      ["c"],
    );
  });

  test("a task that fits nowhere stays out; smaller ones after it are placed", () => {
    const tasks = [...pending(1, 8, 64, 0, "process", "big"), ...pending(2, 1, 64, 0, "process", "small")];
    const plan = planOffers([offer("a", "cpus:2;mem:1024")], tasks);
    assert.deepEqual(ids(plan), ["a:small.0.0,small.1.0"]);
  });

  test("each task gets its own ports from the offer", () => {
    const plan = planOffers([offer("a", "cpus:4;mem:1024;ports:[31000-31003]")], pending(3, 1, 64, 2));
    assert.deepEqual(
      plan.accept[0].launches.map((l) => l.resources.ports),
      [[{ begin: 31000, end: 31001 }], [{ begin: 31002, end: 31003 }]],
    );
  });

  test("docker tasks go only to agents that offer the docker executor", () => {
    const plan = planOffers(
      [offer("proc", "cpus:4;mem:1024"), offer("dock", "cpus:4;mem:1024", ["process", "docker"])],
      pending(1, 1, 64, 0, "docker"),
    );
    assert.deepEqual(ids(plan), ["dock:j.0.0"]);
    assert.deepEqual(
      plan.decline.map((o) => o.id),
      ["proc"],
    );
  });

  test("an offer that lists no executors runs processes only: it takes process tasks, not docker ones", () => {
    const plan = planOffers(
      [offer("plain", "cpus:4;mem:1024", [])],
      [...pending(1, 1, 64, 0, "docker", "d"), ...pending(1, 1, 64, 0, "process", "p")],
    );
    assert.deepEqual(ids(plan), ["plain:p.0.0"]);
  });

  test("nothing pending: every offer is declined", () => {
    const plan = planOffers([offer("a", "cpus:1;mem:1")], []);
    assert.equal(plan.accept.length, 0);
    assert.equal(plan.decline.length, 1);
  });
});
