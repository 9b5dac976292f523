import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  offerRunsExecutor,
  fits,
  parseResources,
  remaining,
  SdkArgumentError,
  TaskBuilder,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";

const r = parseResources;

describe("offerRunsExecutor", () => {
  const cases: [string[], string, boolean][] = [
    [[], "process", true],
    [[], "", true],
    [[], "docker", false],
    [["process"], "docker", false],
    [["process", "docker"], "docker", true],
    [["docker"], "process", false],
    [["docker"], "", false],
  ];
  for (const [executors, executor, runs] of cases) {
    test(`agent [${executors.join(", ")}] ${runs ? "runs" : "does not run"} "${executor}"`, () => {
      assert.equal(offerRunsExecutor({ executors }, executor), runs);
    });
  }
});

describe("fits", () => {
  const cases: [
    string,
    string,
    { cpus: number; mem: number; disk?: number; ports?: number } | string,
    boolean,
  ][] = [
    ["scalars fit", "cpus:2;mem:1024", { cpus: 2, mem: 1024 }, true],
    ["cpus short", "cpus:1;mem:1024", { cpus: 1.5, mem: 10 }, false],
    ["disk short", "cpus:1;mem:1024;disk:10", { cpus: 1, mem: 10, disk: 11 }, false],
    ["0.1 + 0.2 fits in 0.3", "cpus:0.30000000000000004;mem:1", { cpus: 0.3, mem: 1 }, true],
    ["enough ports", "cpus:1;mem:1;ports:[100-101,200]", { cpus: 1, mem: 1, ports: 3 }, true],
    ["too few ports", "cpus:1;mem:1;ports:[100-101]", { cpus: 1, mem: 1, ports: 3 }, false],
    ["concrete ports in range", "cpus:1;mem:1;ports:[100-110]", "cpus:1;mem:1;ports:[105]", true],
    ["concrete port out of range", "cpus:1;mem:1;ports:[100-110]", "cpus:1;mem:1;ports:[111]", false],
  ];
  for (const [name, have, need, want] of cases) {
    test(name, () => {
      assert.equal(fits(r(have), typeof need === "string" ? r(need) : need), want);
    });
  }
});

describe("takeTasks", () => {
  test("several tasks in one offer, in order, with what is left", () => {
    const out = takeTasks(r("cpus:4;mem:1000"), [
      { cpus: 1, mem: 300 },
      { cpus: 1, mem: 300 },
      { cpus: 1, mem: 300 },
      { cpus: 1, mem: 300 },
    ]);
    assert.deepEqual(
      out.placed.map((p) => p.index),
      [0, 1, 2],
    );
    assert.deepEqual(out.unplaced, [3]);
    assert.equal(out.remaining.cpus, 1);
    assert.equal(out.remaining.mem, 100);
  });

  test("a requirement that does not fit is skipped; a later smaller one still fits", () => {
    const out = takeTasks(r("cpus:2;mem:512"), [
      { cpus: 1, mem: 400 },
      { cpus: 1, mem: 400 },
      { cpus: 1, mem: 100 },
    ]);
    assert.deepEqual(
      out.placed.map((p) => p.index),
      [0, 2],
    );
    assert.deepEqual(out.unplaced, [1]);
  });

  test("ports are the lowest free ones and never given twice", () => {
    const out = takeTasks(r("cpus:8;mem:8000;ports:[31000-31001,31005-31007]"), [
      { cpus: 1, mem: 1, ports: 1 },
      { cpus: 1, mem: 1, ports: 2 },
      { cpus: 1, mem: 1, ports: 3 },
      { cpus: 1, mem: 1, ports: 2 },
    ]);
    assert.deepEqual(
      out.placed.map((p) => [p.index, p.resources.ports]),
      [
        [0, [{ begin: 31000, end: 31000 }]],
        [
          1,
          [
            { begin: 31001, end: 31001 },
            { begin: 31005, end: 31005 },
          ],
        ],
        [3, [{ begin: 31006, end: 31007 }]],
      ],
    );
    assert.deepEqual(out.unplaced, [2]);
    assert.deepEqual(out.remaining.ports, []);
  });

  test("takes the Offer message as well as bare resources", () => {
    const offer = {
      id: "o1",
      frameworkId: "f",
      agentId: "a",
      hostname: "h",
      resources: r("cpus:1;mem:64"),
      attributes: [],
      executors: [],
      releases: [],
    };
    assert.equal(takeTasks(offer, [{ cpus: 1, mem: 64 }]).placed.length, 1);
  });

  test("a bad requirement is refused naming the field and the value", () => {
    assert.throws(
      () =>
        takeTasks(r("cpus:1;mem:1"), [
          { cpus: 1, mem: 1 },
          { cpus: -1, mem: 1 },
        ]),
      (err: unknown) =>
        err instanceof SdkArgumentError &&
        err.message === "requirements[1].cpus: -1 is not a non-negative number",
    );
    assert.throws(
      () => takeTasks(r("cpus:1"), [{ cpus: 0, mem: 0, ports: 1.5 }]),
      /requirements\[0\]\.ports/,
    );
  });
});

describe("remaining", () => {
  test("subtracts resources and tasks", () => {
    const used = [
      taskInfo({ taskId: "a", command: "x", cpus: 1, mem: 100, ports: [{ begin: 10, end: 10 }] }),
      r("cpus:0.5;mem:50"),
    ];
    const left = remaining(r("cpus:2;mem:200;ports:[10-12]"), used);
    assert.equal(left.cpus, 0.5);
    assert.equal(left.mem, 50);
    assert.deepEqual(left.ports, [{ begin: 11, end: 12 }]);
  });
});

describe("taskInfo and TaskBuilder", () => {
  test("a string command runs under the shell with the env", () => {
    const t = taskInfo({ taskId: "job.0.0", command: "echo $X", env: { X: "1" }, cpus: 0.5, mem: 32 });
    assert.deepEqual(t.command, { value: "echo $X", arguments: [], shell: true, env: { X: "1" } });
    assert.equal(t.name, "job.0.0");
    assert.equal(t.executor, "");
    assert.deepEqual(t.resources, { cpus: 0.5, mem: 32, disk: 0, ports: [] });
  });

  test("an image selects the docker executor", () => {
    const t = taskInfo({ taskId: "d", image: "busybox", cpus: 1, mem: 1 });
    assert.equal(t.executor, "docker");
    assert.equal(t.container?.image, "busybox");
  });

  test("bad fields are named", () => {
    assert.throws(
      () => taskInfo({ taskId: "has space", command: "x", cpus: 1, mem: 1 }),
      /^SdkArgumentError: taskId/,
    );
    assert.throws(() => taskInfo({ taskId: "t", command: " ", cpus: 1, mem: 1 }), /command: a task needs/);
    assert.throws(
      () => taskInfo({ taskId: "t", command: "x", cpus: 0, mem: 0 }),
      /cpus: a task needs cpus > 0/,
    );
    assert.throws(() => taskInfo({ taskId: "t", command: "x", cpus: Number.NaN, mem: 1 }), /task\.cpus: NaN/);
  });

  test("the builder assembles the same TaskInfo", () => {
    const built = new TaskBuilder("t1")
      .name("web")
      .command("/bin/server", ["--port", "8080"])
      .env({ A: "b" })
      .resources({ cpus: 1, mem: 128, ports: [{ begin: 8080, end: 8080 }] })
      .onAgent("agent-7")
      .labels({ app: "web" })
      .killGraceSeconds(3)
      .build();
    assert.equal(built.agentId, "agent-7");
    assert.deepEqual(built.command, {
      value: "/bin/server",
      arguments: ["--port", "8080"],
      shell: false,
      env: { A: "b" },
    });
    assert.deepEqual(built.resources?.ports, [{ begin: 8080, end: 8080 }]);
    assert.equal(built.killGraceSeconds, 3);
    assert.deepEqual(built.labels, { app: "web" });
  });
});
