import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  type YardError,
} from "../../common/errors.js";
import { parseResources as r } from "../../common/resources.js";
import { type AcceptInput, validateAccept } from "../../master/accept-validation.js";
import type { OfferRecord } from "../../master/allocator/offer-book.js";
import { HealthCheck, type TaskInfo } from "../../proto/gen/yard/v1/common.js";
import { type Operation, Operation_Type } from "../../proto/gen/yard/v1/scheduler.js";

const OFFERS: Record<string, OfferRecord> = {
  o1: offer("o1", "F", "a1", "cpus:4;mem:2048;disk:100;ports:[31000-31009]"),
  o2: offer("o2", "F", "a1", "cpus:2;mem:1024;ports:[32000-32000]"),
  o3: offer("o3", "G", "a1", "cpus:1;mem:512"),
  o4: offer("o4", "F", "a2", "cpus:1;mem:512"),
};

function offer(id: string, frameworkId: string, agentId: string, res: string): OfferRecord {
  return { id, frameworkId, agentId, resources: r(res), createdAtMs: 0, expiresAtMs: 30_000 };
}

function task(over: Partial<TaskInfo> & { res?: string } = {}): TaskInfo {
  const { res, ...rest } = over;
  return {
    taskId: "t1",
    name: "",
    agentId: "",
    resources: r(res ?? "cpus:1;mem:512"),
    command: { value: "sleep 1", arguments: [], shell: true, env: {} },
    container: undefined,
    executor: "",
    labels: {},
    killGraceSeconds: 0,
    release: "",
    ...rest,
  };
}

function launch(...tasks: TaskInfo[]): Operation {
  return { type: Operation_Type.LAUNCH, launch: { tasks } };
}

function input(over: Partial<AcceptInput> = {}): AcceptInput {
  return {
    frameworkId: "F",
    offerIds: ["o1"],
    operations: [launch(task())],
    lookupOffer: (id) => OFFERS[id],
    taskIdInUse: (id) => id === "running",
    agentExecutors: () => ["process"],
    ...over,
  };
}

describe("validateAccept", () => {
  test("a valid launch: agent filled in, executor defaulted, used and unused summed", () => {
    const plan = validateAccept(
      input({
        offerIds: ["o1", "o2"],
        operations: [
          launch(task({ taskId: "web-1", res: "cpus:1;mem:512;ports:[31000-31001]" })),
          launch(task({ taskId: "web-2", agentId: "a1", res: "cpus:2.5;mem:1024;ports:[32000-32000]" })),
        ],
      }),
    );
    assert.equal(plan.agentId, "a1");
    assert.deepEqual(
      plan.offers.map((o) => o.id),
      ["o1", "o2"],
    );
    assert.deepEqual(
      plan.tasks.map((t) => [t.taskId, t.agentId, t.executor]),
      [
        ["web-1", "a1", "process"],
        ["web-2", "a1", "process"],
      ],
    );
    assert.deepEqual(plan.used, r("cpus:3.5;mem:1536;ports:[31000-31001,32000-32000]"));
    assert.deepEqual(plan.unused, r("cpus:2.5;mem:1536;disk:100;ports:[31002-31009]"));
  });

  test("zero operations is a decline of everything", () => {
    const plan = validateAccept(input({ operations: [] }));
    assert.deepEqual(plan.tasks, []);
    assert.deepEqual(plan.used, r(""));
    assert.deepEqual(plan.unused, OFFERS.o1!.resources);
  });

  test("a docker task needs an image, not a command, on an agent that runs docker", () => {
    const docker = task({ executor: "docker", command: undefined, container: { image: "nginx:1" } });
    const plan = validateAccept(
      input({ operations: [launch(docker)], agentExecutors: () => ["process", "docker"] }),
    );
    assert.equal(plan.tasks[0]!.executor, "docker");
  });

  const tooMuchMem = [
    task({ taskId: "a", res: "cpus:1;mem:2048" }),
    task({ taskId: "b", res: "cpus:1;mem:4096" }),
  ];
  const cases: {
    name: string;
    over: Partial<AcceptInput>;
    type: new (...args: any[]) => YardError;
    message: string | RegExp;
  }[] = [
    {
      name: "no offer ids",
      over: { offerIds: [] },
      type: InvalidArgumentError,
      message: /^offer_ids: is empty/,
    },
    {
      name: "unknown or expired offer",
      over: { offerIds: ["o1", "gone"] },
      type: NotFoundError,
      message: "offer gone is not outstanding (unknown, expired or already used)",
    },
    {
      name: "an offer past its expiry",
      over: { offerIds: ["o1"], nowMs: 30_250 },
      type: NotFoundError,
      message: "offer o1 expired 250 ms ago",
    },
    {
      name: "another framework's offer",
      over: { offerIds: ["o3"] },
      type: FailedPreconditionError,
      message: "offer o3 was made to another framework, not to F",
    },
    {
      name: "offers on several agents",
      over: { offerIds: ["o1", "o4"] },
      type: FailedPreconditionError,
      message: "offers are on several agents: o4 is on agent a2, o1 on agent a1",
    },
    {
      name: "duplicate offer ids",
      over: { offerIds: ["o1", "o1"] },
      type: InvalidArgumentError,
      message: 'offer_ids[1]: "o1" is listed twice',
    },
    {
      name: "operation type UNKNOWN",
      over: { operations: [launch(task()), { type: Operation_Type.UNKNOWN, launch: undefined }] },
      type: InvalidArgumentError,
      message: "operations[1].type: UNKNOWN is not a supported operation (LAUNCH)",
    },
    {
      name: "LAUNCH without launch",
      over: { operations: [{ type: Operation_Type.LAUNCH, launch: undefined }] },
      type: InvalidArgumentError,
      message: "operations[0].type: LAUNCH without a launch field",
    },
    {
      name: "empty task id",
      over: { operations: [launch(task({ taskId: "" }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].task_id: is empty",
    },
    {
      name: "task id with a slash",
      over: { operations: [launch(task({ taskId: "a/b" }))] },
      type: InvalidArgumentError,
      message: /^operations\[0\]\.launch\.tasks\[0\]\.task_id: "a\/b" is not a valid task id/,
    },
    {
      name: "task id twice in the Accept",
      over: { operations: [launch(task({ taskId: "x" })), launch(task({ taskId: "x" }))] },
      type: AlreadyExistsError,
      message:
        'task id "x" of operations[1].launch.tasks[0] is also used by operations[0].launch.tasks[0] of this Accept',
    },
    {
      name: "task id in use",
      over: { operations: [launch(task({ taskId: "running" }))] },
      type: AlreadyExistsError,
      message: 'task id "running" of operations[0].launch.tasks[0] is already in use',
    },
    {
      name: "task on another agent",
      over: { operations: [launch(task({ agentId: "a2" }))] },
      type: InvalidArgumentError,
      message: 'operations[0].launch.tasks[0].agent_id: "a2" is not the offers\' agent "a1"',
    },
    {
      name: "process task without a command",
      over: { operations: [launch(task({ command: { value: " ", arguments: [], shell: true, env: {} } }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].command.value: is empty: a process task needs a command",
    },
    {
      name: "docker task without an image",
      over: { operations: [launch(task({ executor: "docker" }))], agentExecutors: () => ["docker"] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].container.image: is empty: a docker task needs an image",
    },
    {
      name: "unknown executor",
      over: { operations: [launch(task({ executor: "vm" }))] },
      type: InvalidArgumentError,
      message: 'operations[0].launch.tasks[0].executor: "vm" is not a known executor (process, docker)',
    },
    {
      name: "executor the agent does not run",
      over: { operations: [launch(task({ executor: "docker", container: { image: "x" } }))] },
      type: InvalidArgumentError,
      message:
        'operations[0].launch.tasks[0].executor: "docker" is not available on agent a1 (it runs: process)',
    },
    {
      name: "resources missing",
      over: { operations: [launch(task({ resources: undefined }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.cpus: is missing: a task needs cpus > 0 or mem > 0",
    },
    {
      name: "negative mem",
      over: { operations: [launch(task({ resources: { cpus: 1, mem: -1, disk: 0, ports: [] } }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.mem: -1 is not a non-negative number",
    },
    {
      name: "NaN cpus",
      over: { operations: [launch(task({ resources: { cpus: Number.NaN, mem: 1, disk: 0, ports: [] } }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.cpus: NaN is not a non-negative number",
    },
    {
      name: "cpus and mem both 0",
      over: { operations: [launch(task({ res: "disk:10" }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.cpus: 0 with mem 0: a task needs cpus > 0 or mem > 0",
    },
    {
      name: "one task beyond the offer",
      over: { operations: [launch(task({ res: "cpus:5;mem:1" }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.cpus: 5 is more than the offered 4",
    },
    {
      name: "tasks together beyond the offer",
      over: { operations: [launch(...tooMuchMem)] },
      type: InvalidArgumentError,
      message:
        "operations[0].launch.tasks[1].resources.mem: 4096 (with the tasks before it 6144) is more than the offered 2048",
    },
    {
      name: "port outside the offered ranges",
      over: { operations: [launch(task({ res: "cpus:1;ports:[31008-31010]" }))] },
      type: InvalidArgumentError,
      message:
        "operations[0].launch.tasks[0].resources.ports: port 31010 is not in the offered ranges [31000-31009]",
    },
    {
      name: "port claimed by two tasks",
      over: {
        operations: [
          launch(task({ taskId: "a", res: "cpus:1;ports:[31000-31003]" })),
          launch(task({ taskId: "b", res: "cpus:1;ports:[31003-31004]" })),
        ],
      },
      type: InvalidArgumentError,
      message:
        "operations[1].launch.tasks[0].resources.ports: port 31003 is also claimed by operations[0].launch.tasks[0]",
    },
    {
      name: "port claimed twice by one task",
      over: {
        operations: [
          launch(
            task({
              resources: {
                cpus: 1,
                mem: 0,
                disk: 0,
                ports: [
                  { begin: 31001, end: 31002 },
                  { begin: 31002, end: 31002 },
                ],
              },
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.ports: port 31002 is claimed twice by this task",
    },
    {
      name: "inverted port range",
      over: {
        operations: [
          launch(task({ resources: { cpus: 1, mem: 0, disk: 0, ports: [{ begin: 31005, end: 31001 }] } })),
        ],
      },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].resources.ports[0]: 31005-31001 is not a valid port range",
    },
    {
      name: "negative kill grace",
      over: { operations: [launch(task({ killGraceSeconds: -2 }))] },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].kill_grace_seconds: -2 is not a non-negative number",
    },
    {
      name: "a health check of an unknown kind",
      over: {
        operations: [
          launch(
            task({
              res: "cpus:1;mem:512;ports:[31000-31000]",
              healthCheck: HealthCheck.fromPartial({ kind: "grpc" }),
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message: 'operations[0].launch.tasks[0].health_check.kind: "grpc" is not one of http, tcp, command',
    },
    {
      name: "a command check without a command",
      over: {
        operations: [
          launch(
            task({
              res: "cpus:1;mem:512;ports:[31000-31000]",
              healthCheck: HealthCheck.fromPartial({ kind: "command", command: " " }),
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message:
        "operations[0].launch.tasks[0].health_check.command: is empty: a command check needs a command",
    },
    {
      name: "an http check on a port the task does not have",
      over: {
        operations: [
          launch(
            task({
              res: "cpus:1;mem:512;ports:[31000-31000]",
              healthCheck: HealthCheck.fromPartial({ kind: "http", portIndex: 1 }),
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message: "operations[0].launch.tasks[0].health_check.port_index: 1 but the task has 1 port(s)",
    },
    {
      name: "an http path without a leading slash",
      over: {
        operations: [
          launch(
            task({
              res: "cpus:1;mem:512;ports:[31000-31000]",
              healthCheck: HealthCheck.fromPartial({ kind: "http", httpPath: "ready" }),
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message: 'operations[0].launch.tasks[0].health_check.http_path: "ready" does not start with "/"',
    },
    {
      name: "a negative check interval",
      over: {
        operations: [
          launch(
            task({
              res: "cpus:1;mem:512;ports:[31000-31000]",
              healthCheck: HealthCheck.fromPartial({ kind: "tcp", intervalSeconds: -1 }),
            }),
          ),
        ],
      },
      type: InvalidArgumentError,
      message:
        "operations[0].launch.tasks[0].health_check.interval_seconds: -1 is not a number of seconds >= 0",
    },
  ];

  for (const c of cases) {
    test(`rejects ${c.name}`, () => {
      assert.throws(
        () => validateAccept(input(c.over)),
        (e: unknown) => {
          assert.ok(e instanceof c.type, `expected ${c.type.name}, got ${String(e)}`);
          if (typeof c.message === "string") assert.equal(e.message, c.message);
          else assert.match(e.message, c.message);
          return true;
        },
      );
    });
  }

  test("a valid health check travels with the task", () => {
    const healthCheck = HealthCheck.fromPartial({ kind: "http", httpPath: "/ready", intervalSeconds: 2 });
    const t = task({ res: "cpus:1;mem:512;ports:[31000-31000]", healthCheck });
    assert.deepEqual(validateAccept(input({ operations: [launch(t)] })).tasks[0]!.healthCheck, healthCheck);
  });

  test("an agent that advertises no executors runs process tasks", () => {
    assert.equal(validateAccept(input({ agentExecutors: () => [] })).tasks.length, 1);
    assert.equal(validateAccept(input({ agentExecutors: undefined })).tasks.length, 1);
  });
});
