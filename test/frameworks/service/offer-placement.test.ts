import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Offer, PendingTally } from "../../../framework-sdk/index.js";
import { parseAppSpec } from "../../../frameworks/service/app-spec.js";
import type { AgentView } from "../../../frameworks/service/constraints.js";
import { placeOnOffer, placeOnOffers, type Want } from "../../../frameworks/service/offer-placement.js";

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

function place(
  yaml: string,
  o: Offer,
  want: Want,
  placed: AgentView[] = [],
  extra: { tally?: PendingTally; holdOff?: () => boolean } = {},
) {
  const spec = parseAppSpec(yaml);
  let n = 0;
  return placeOnOffer({
    ...extra,
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

describe("placeOnOffers: where the bytes already are", () => {
  const agentOf = (n: number, rack = "r1"): AgentView => ({
    agentId: `a${n}`,
    hostname: `host-${n}`,
    attributes: { rack },
  });
  const offerOn = (n: number, releases: string[], cpus = 4): Offer => ({
    ...offer(cpus, [31000, 31010]),
    id: `o${n}`,
    agentId: `a${n}`,
    hostname: `host-${n}`,
    attributes: [{ name: "rack", value: n <= 2 ? "r1" : "r2" }],
    releases,
  });

  function placeBatch(yamls: string[], batch: Offer[], wants: Map<string, Want>, placed: AgentView[] = []) {
    const specs = new Map(yamls.map((y) => parseAppSpec(y)).map((s) => [s.name, s]));
    const views = batch.map((o) => agentOf(Number(o.agentId.slice(1)), o.attributes[0]!.value));
    let n = 0;
    return placeOnOffers({
      offers: batch.map((o, i) => ({ offer: o, agent: views[i]! })),
      wants,
      specOf: (app) => specs.get(app),
      placedOf: () => [...placed],
      known: views,
      now: 100,
      newTaskId: (app, rev) => `${app}.${rev}.${n++}`,
    }).map((p) => p.instances.map((i) => i.app).join(","));
  }

  const unique = "name: web\nrelease: web@1\ncommand: x\nconstraints: [hostname UNIQUE]\n";

  test("named cases: holders first, then the batch order", () => {
    const cases: { name: string; batch: Offer[]; count: number; expect: string[] }[] = [
      {
        name: "the holders come last in the batch and still get the instances",
        batch: [offerOn(1, []), offerOn(2, []), offerOn(3, ["web@1"]), offerOn(4, ["web@1"])],
        count: 2,
        expect: ["", "", "web", "web"],
      },
      {
        name: "more instances than holders: the holders, then the batch order",
        batch: [offerOn(1, []), offerOn(2, ["web@1"]), offerOn(3, []), offerOn(4, [])],
        count: 3,
        expect: ["web", "web", "web", ""],
      },
      {
        name: "a holder that lacks room is passed over, not waited for",
        batch: [offerOn(1, []), offerOn(2, ["web@1"], 0.5), offerOn(3, [])],
        count: 1,
        expect: ["web", "", ""],
      },
      {
        name: "another release held does not count",
        batch: [offerOn(1, []), offerOn(2, ["web@2", "api@1"])],
        count: 1,
        expect: ["web", ""],
      },
    ];
    for (const c of cases) {
      const want = { revision: 1, count: c.count };
      const got = placeBatch(
        [unique.replace("command: x", "command: x\nresources: { cpus: 1, mem: 64 }")],
        c.batch,
        new Map([["web", want]]),
      );
      assert.deepEqual(got, c.expect, c.name);
      assert.equal(want.count, Math.max(0, c.count - c.batch.length), c.name);
    }
  });

  test("constraints stay hard: a holder that a constraint excludes gets nothing", () => {
    const yaml = "name: web\nrelease: web@1\ncommand: x\nconstraints: [hostname UNIQUE, rack LIKE r2]\n";
    const got = placeBatch(
      [yaml],
      [offerOn(1, ["web@1"]), offerOn(2, ["web@1"]), offerOn(3, []), offerOn(4, [])],
      new Map([["web", { revision: 1, count: 2 }]]),
    );
    assert.deepEqual(got, ["", "", "web", "web"]);
  });

  test("instances placed earlier in the batch count for the later offers' constraints", () => {
    const got = placeBatch(
      [unique],
      [offerOn(1, ["web@1"]), offerOn(1, [])],
      new Map([["web", { revision: 1, count: 2 }]]),
    );
    assert.deepEqual(got, ["web", ""], "hostname UNIQUE across the two passes");
  });

  test("each app goes to the holders of its own release; an app without a release fills after", () => {
    const api = "name: api\nrelease: api@3\ncommand: x\nresources: { cpus: 2, mem: 64 }\n";
    const web = "name: web\nrelease: web@1\ncommand: x\nresources: { cpus: 2, mem: 64 }\n";
    const plain = "name: cron\ncommand: x\nresources: { cpus: 2, mem: 64 }\n";
    const wants = new Map<string, Want>([
      ["cron", { revision: 1, count: 1 }],
      ["web", { revision: 1, count: 2 }],
      ["api", { revision: 1, count: 2 }],
    ]);
    const got = placeBatch(
      [api, web, plain],
      [offerOn(1, ["api@3"]), offerOn(2, ["web@1"]), offerOn(3, [])],
      wants,
    );
    assert.deepEqual(got, ["api,api", "web,web", "cron"]);
  });

  test("why pending: each reason an app's want does not fit an offer is tallied", () => {
    const tally = new PendingTally();
    const yaml = (extra: string) => `name: web\ncommand: x\nresources: { cpus: 1, mem: 64 }\n${extra}`;
    // No docker executor on the agent.
    place(
      "name: web\nimage: web:2\nresources: { cpus: 1, mem: 64 }\n",
      offer(3, [31000, 31010]),
      { revision: 1, count: 1 },
      [],
      { tally },
    );
    // Held a while for an agent that holds the release.
    place(yaml("release: web@2\n"), offer(3, [31000, 31010]), { revision: 1, count: 1 }, [], {
      tally,
      holdOff: () => true,
    });
    // A constraint no instance may break, and an offer too small.
    place(
      yaml("constraints: [hostname UNIQUE]\n"),
      offer(3, [31000, 31010]),
      { revision: 1, count: 1 },
      [agent],
      { tally },
    );
    place(yaml(""), offer(0.5, [31000, 31010]), { revision: 1, count: 1 }, [], { tally });
    const [w] = tally.work([{ kind: "app", name: "web", waiting: 1, since: 0 }]);
    assert.deepEqual(w!.reasons.map((x) => [x.code, x.detail]).sort(), [
      ["constraint", 'hostname "host-1" already runs an instance (UNIQUE)'],
      ["executor", "needs the docker executor; host-1 runs process"],
      ["insufficient_cpus", "needs 1 cpus; the largest offer had 0.5"],
      ["release_not_staged", "waits a while for an agent that holds release web@2"],
    ]);
  });
});
