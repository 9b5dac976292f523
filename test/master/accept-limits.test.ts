// The master's input bounds through its real gRPC API: an Accept past a limit is refused
// INVALID_ARGUMENT naming the field, a message past the receive limit RESOURCE_EXHAUSTED (and
// the master serves on), and an agent's status message is stored and forwarded truncated.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ClientDuplexStream, status as Code } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { LIMITS, utf8Bytes } from "../../common/limits.js";
import { silentLogger } from "../../common/logger.js";
import {
  type Offer,
  SchedulerCallError,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { type MasterHandle, startMaster } from "../../master/master-daemon.js";
import {
  type AgentMessage,
  AgentServiceClient,
  type MasterMessage,
  type RunTask,
} from "../../proto/gen/yard/v1/agent.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { waitFor } from "../cluster/harness.js";
import { agentCredentials, operatorCredentials, tlsOf } from "../tls-fixture.js";

const TOKEN = "limits-test-token";

async function refusal(p: Promise<unknown>): Promise<SchedulerCallError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SchedulerCallError, `expected a SchedulerCallError, got ${err}`);
    return err;
  }
  assert.fail("the call was accepted");
}

describe("the master's input bounds", { timeout: 60_000 }, () => {
  const root = mkdtempSync(join(tmpdir(), "yard-limits-"));
  let master: MasterHandle;
  let driver: SchedulerDriver;
  /** An agent speaking the real protocol, so that the test chooses what it reports. */
  let agentClient: AgentServiceClient;
  let agentStream: ClientDuplexStream<AgentMessage, MasterMessage>;
  const runTasks: RunTask[] = [];
  const offers: Offer[] = [];
  const updates: TaskStatus[] = [];
  const take = () => waitFor("an offer", () => offers.shift(), 10_000, 20);
  const task = (taskId: string, over: Partial<Parameters<typeof taskInfo>[0]> = {}) =>
    taskInfo({ taskId, command: "sleep 30", cpus: 0.1, mem: 32, ...over });

  before(async () => {
    master = await startMaster({
      ...tlsOf("master"),
      dataDir: join(root, "master"),
      port: 0,
      httpPort: 0,
      token: TOKEN,
      logger: silentLogger,
    });
    agentClient = new AgentServiceClient(master.address, agentCredentials(), CHANNEL_OPTIONS);
    agentStream = agentClient.connect(authMetadata(TOKEN));
    agentStream.on("data", (m: MasterMessage) => {
      if (m.runTask) runTasks.push(m.runTask);
      runTasks.push(...(m.batch?.runTasks ?? []));
    });
    agentStream.on("error", () => undefined);
    agentStream.write({
      register: {
        agentId: "",
        token: "",
        tasks: [],
        artifacts: [],
        agentSecret: "",
        clusterId: "",
        info: {
          id: "",
          hostname: "limits-host",
          resources: { cpus: 2, mem: 1024, disk: 0, ports: [] },
          attributes: [],
          executors: ["process"],
          version: "test",
        },
      },
    });
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: master.address,
      token: TOKEN,
      framework: { name: "limits" },
      logger: silentLogger,
    });
    driver.on("offers", (ev) => {
      offers.push(...ev.offers);
    });
    driver.on("update", (ev) => {
      updates.push(ev.status);
    });
    await driver.start();
  });

  after(async () => {
    await driver?.stop();
    agentStream?.cancel();
    agentClient?.close();
    await master?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const refusedAccepts: { name: string; task: ReturnType<typeof task>; field: string; message: string }[] = [
    {
      name: "a command over 64 KiB",
      task: task("t-cmd", { command: "x".repeat(70_000) }),
      field: "operations[0].launch.tasks[0].command",
      message: "command length 70,000 bytes is over the limit of 64 KiB",
    },
    {
      name: "arguments that make the command too long",
      task: {
        ...task("t-args"),
        command: { value: "echo", arguments: ["a".repeat(66_000)], shell: false, env: {} },
      },
      field: "operations[0].launch.tasks[0].command",
      message: "command length 66,004 bytes is over the limit of 64 KiB",
    },
    {
      name: "an environment over 64 KiB",
      task: task("t-env", { env: { BIG: "x".repeat(70_000) } }),
      field: "operations[0].launch.tasks[0].command.env",
      message: "environment size 70,003 bytes is over the limit of 64 KiB",
    },
    {
      name: "too many labels",
      task: task("t-labels", {
        labels: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`l${i}`, "v"])),
      }),
      field: "operations[0].launch.tasks[0].labels",
      message: "label count 200 is over the limit of 128",
    },
    {
      name: "a task name over 512",
      task: task("t-name", { name: "n".repeat(600) }),
      field: "operations[0].launch.tasks[0].name",
      message: "length 600 is over the limit of 512",
    },
    {
      name: "a task id over 200",
      task: { ...task("t-id"), taskId: "t".repeat(300) },
      field: "operations[0].launch.tasks[0].task_id",
      message: "length 300 is over the limit of 200",
    },
  ];
  for (const c of refusedAccepts) {
    test(`INVALID_ARGUMENT: ${c.name}`, async () => {
      const offer = await take();
      const err = await refusal(driver.launch(offer, [c.task]));
      assert.equal(err.code, Code.INVALID_ARGUMENT);
      assert.equal(err.details, `${c.field}: ${c.message}`);
    });
  }

  test("a message over the receive limit is RESOURCE_EXHAUSTED, and the master serves on", async () => {
    const offer = await take();
    const big = Array.from({ length: 300 }, (_, i) =>
      task(`t-big-${i}`, { env: { PAD: "x".repeat(60_000) } }),
    );
    const err = await refusal(driver.launch(offer, big));
    assert.equal(err.code, Code.RESOURCE_EXHAUSTED);
    assert.match(err.details, new RegExp(`${LIMITS.masterReceiveBytes}`));
    // The offer was never seen by the master's handler; it times out or is used. A fresh,
    // valid launch on the next offer (or this one) goes through.
    const next = offers.shift() ?? offer;
    assert.deepEqual(await driver.launch(next, [task("t-after")]), ["t-after"]);
  });

  test("a status message is stored and forwarded truncated to 4 KiB", async () => {
    const run = await waitFor("t-after on the agent", () =>
      runTasks.find((r) => r.task?.taskId === "t-after"),
    );
    const long = `spawn E2BIG: ${"y".repeat(1_000_000)}`;
    agentStream.write({
      status: {
        status: {
          taskId: "t-after",
          frameworkId: run.frameworkId,
          agentId: run.task!.agentId,
          state: TaskState.TASK_FAILED,
          message: long,
          reason: "",
          uuid: "00000000-0000-4000-8000-000000000001",
          timestamp: Date.now() / 1000,
          source: "agent",
          exitCode: undefined,
        } as TaskStatus,
      },
    });
    const forwarded = await waitFor("the FAILED update", () =>
      updates.find((u) => u.taskId === "t-after" && u.state === TaskState.TASK_FAILED),
    );
    assert.ok(
      utf8Bytes(forwarded.message) <= LIMITS.statusMessageBytes,
      `${utf8Bytes(forwarded.message)} bytes`,
    );
    assert.match(forwarded.message, /^spawn E2BIG: y+ … \[1,000,013 bytes message truncated\]$/);
    const op = new OperatorServiceClient(master.address, operatorCredentials(), CHANNEL_OPTIONS);
    try {
      const res = await unary(
        op.getTasks,
        op,
        { frameworkId: "", agentId: "", includeTerminal: true },
        authMetadata(TOKEN),
      );
      const stored = res.tasks.find((t) => t.info?.taskId === "t-after");
      assert.equal(stored?.status?.message, forwarded.message, "the registry holds the truncated message");
    } finally {
      op.close();
    }
  });
});
