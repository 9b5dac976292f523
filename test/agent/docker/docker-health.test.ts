// A command health check of a docker task runs inside its container (docker exec) with the
// container's environment: a real agent against the test master and a real engine. Outside
// CI without an engine it is skipped with one line; under CI=true a missing engine fails it.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { type AgentHandle, startAgent } from "../../../agent/agent-daemon.js";
import { LABEL_TASK } from "../../../agent/docker/container-spec.js";
import { silentLogger } from "../../../common/logger.js";
import {
  HealthCheck,
  HealthState,
  TaskInfo,
  TaskState,
  type TaskStatus,
} from "../../../proto/gen/yard/v1/common.js";
import { tempDir, waitFor } from "../helpers.js";
import { TestMaster } from "../test-master.js";
import { findTestEngine, skipUnlessEngine, TEST_IMAGE } from "./engine.js";
import { tlsOf } from "../../tls-fixture.js";

const engine = await findTestEngine();
const FW = "fw-docker-health";
const PORT = 31_431;

describe("docker: agent-run command check (real engine)", { skip: skipUnlessEngine(engine) }, () => {
  const dirs: string[] = [];
  let agent: AgentHandle | undefined;
  let master: TestMaster | undefined;
  after(async () => {
    await agent?.stop({ killTasks: true }).catch(() => undefined);
    await master?.stop();
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  test("the check runs in the container with its environment; the verdict flips once per change", async () => {
    assert.equal(engine.missing, undefined, engine.missing);
    master = new TestMaster();
    await master.start();
    const dataDir = tempDir("agent-docker-health");
    dirs.push(dataDir);
    agent = await startAgent({
      ...tlsOf("agent"),
      master: master.address,
      dataDir,
      executors: ["docker"],
      dockerSocket: engine.socket,
      cpus: 1,
      mem: 256,
      disk: 256,
      ports: [{ begin: PORT, end: PORT }],
      statusRetryMs: 200,
      logger: silentLogger,
    });
    const s = await master.waitStreams(1);
    const id = "dh-cmd";
    s.call.write({
      runTask: {
        user: "",
        frameworkId: FW,
        task: TaskInfo.fromPartial({
          taskId: id,
          command: { value: "sleep 600", shell: true },
          resources: { cpus: 0.2, mem: 32, disk: 0, ports: [{ begin: PORT, end: PORT }] },
          container: { image: TEST_IMAGE },
          executor: "docker",
          killGraceSeconds: 1,
          // Passes only inside the container (its own /tmp) with the task's PORT0.
          healthCheck: HealthCheck.fromPartial({
            kind: "command",
            command: `test "$PORT0" = ${PORT} && test ! -e /tmp/down`,
            intervalSeconds: 0.2,
            timeoutSeconds: 5,
            failures: 2,
          }),
        }),
      },
    });
    const updates = (): TaskStatus[] => {
      const seen = new Map<string, TaskStatus>();
      for (const m of master!.all("status")) if (m.status!.taskId === id) seen.set(m.status!.uuid, m.status!);
      for (const u of seen.values()) s.call.write({ ack: { taskId: id, uuid: u.uuid, frameworkId: FW } });
      return [...seen.values()].filter((u) => u.state === TaskState.TASK_RUNNING);
    };
    const verdicts = () => updates().map((u) => HealthState[u.health?.state ?? 0]);
    await waitFor("healthy", () => verdicts().includes("HEALTH_HEALTHY") || undefined, 60_000);

    const [c] = await engine.docker!.listContainers({ filters: { label: [`${LABEL_TASK}=${id}`] } });
    assert.ok(c, "the task's container");
    const exec = await engine.docker!.getContainer(c.Id).exec({ Cmd: ["touch", "/tmp/down"] });
    await exec.start({ hijack: true, stdin: false });
    await waitFor("unhealthy", () => verdicts().includes("HEALTH_UNHEALTHY") || undefined, 30_000);
    assert.deepEqual(verdicts(), ["HEALTH_UNKNOWN", "HEALTH_HEALTHY", "HEALTH_UNHEALTHY"]);
    const unhealthy = updates()[2]!;
    assert.match(unhealthy.health!.message, /^exit 1/);
    assert.equal(unhealthy.health!.consecutiveFailures, 2);
  });
});
