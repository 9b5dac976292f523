import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Offer } from "../../../framework-sdk/index.js";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import type { AgentView } from "../../../frameworks/service/constraints.js";
import { placeOnOffer, type Want } from "../../../frameworks/service/offer-placement.js";

const offer = (cpus: number, ports: [number, number]): Offer => ({
  id: "o1",
  frameworkId: "fw",
  agentId: "a1",
  hostname: "host-1",
  resources: { cpus, mem: 1024, disk: 0, ports: [{ begin: ports[0], end: ports[1] }] },
  attributes: [],
  executors: ["process"],
  releases: [],
});
const agent: AgentView = { agentId: "a1", hostname: "host-1", attributes: {} };

function place(yaml: string, o: Offer, want: Want, placed: AgentView[] = []) {
  const spec = parseAppSpec(yaml);
  let n = 0;
  return placeOnOffer({
    offer: o,
    agent,
    wants: new Map([[spec.name, want]]),
    specOf: () => spec,
    placedOf: () => [...placed],
    known: [agent],
    now: 100,
    newTaskId: (app, rev) => `${app}.${rev}.${n++}`,
  });
}

describe("placeOnOffer", () => {
  test("places as many as fit, each with its own port, and counts the want down", () => {
    const want = { revision: 2, count: 5 };
    const p = place(
      "name: web\ncommand: x\nresources: { cpus: 1, mem: 64, ports: 1 }\n",
      offer(3, [31000, 31010]),
      want,
    );
    assert.deepEqual(
      p.tasks.map((t) => t.taskId),
      ["web.2.0", "web.2.1", "web.2.2"],
    );
    assert.deepEqual(
      p.instances.map((i) => i.port),
      [31000, 31001, 31002],
    );
    assert.equal(want.count, 2);
    assert.equal(p.tasks[0]?.command?.env.YARD_REVISION, "2");
    assert.equal(p.tasks[0]?.healthCheck, undefined, "no check in the spec, none for the agent");
  });

  test("the spec's health check travels in the TaskInfo, for the agent to run", () => {
    const p = place(
      "name: web\ncommand: x\nresources: { cpus: 1, mem: 64, ports: 2 }\n" +
        "health_check: { http: { path: /ready, port_index: 1 }, interval: 500ms, timeout: 2, grace_period: 0, failures: 4 }\n",
      offer(3, [31000, 31010]),
      { revision: 1, count: 1 },
    );
    assert.deepEqual(p.tasks[0]?.healthCheck, {
      kind: "http",
      httpPath: "/ready",
      portIndex: 1,
      command: "",
      intervalSeconds: 0.5,
      timeoutSeconds: 2,
      gracePeriodSeconds: 0,
      failures: 4,
    });
  });

  test("hostname UNIQUE: one per offer, none where one already runs", () => {
    const yaml = "name: web\ncommand: x\nconstraints: [hostname UNIQUE]\n";
    assert.equal(place(yaml, offer(4, [31000, 31010]), { revision: 1, count: 3 }).tasks.length, 1);
    assert.equal(place(yaml, offer(4, [31000, 31010]), { revision: 1, count: 3 }, [agent]).tasks.length, 0);
  });

  test("an image app needs an agent with the docker executor", () => {
    const p = place("name: web\nimage: web:1\n", offer(4, [31000, 31010]), { revision: 1, count: 1 });
    assert.equal(p.tasks.length, 0);
  });

  test("an offer that lists no executors runs processes only (the same rule as the batch framework)", () => {
    const plain = { ...offer(4, [31000, 31010]), executors: [] };
    assert.equal(place("name: web\nimage: web:1\n", plain, { revision: 1, count: 1 }).tasks.length, 0);
    assert.equal(place("name: web\ncommand: x\n", plain, { revision: 1, count: 1 }).tasks.length, 1);
    const docker = { ...offer(4, [31000, 31010]), executors: ["process", "docker"] };
    assert.equal(place("name: web\nimage: web:1\n", docker, { revision: 1, count: 1 }).tasks.length, 1);
  });
});
