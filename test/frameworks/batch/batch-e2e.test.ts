// End to end: a real master and a real agent in this process, the batch framework running a
// job of 3 `echo hi` tasks, and the guide's example framework running 3 tasks.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS, unary } from "../../../common/grpc.js";
import { silentLogger } from "../../../framework-sdk/index.js";
import { type AgentHandle, startAgent } from "../../../agent/agent-daemon.js";
import { type MasterHandle, startMaster } from "../../../master/master-daemon.js";
import { startBatchFramework } from "../../../frameworks/batch/batch-daemon.js";
import { runHello } from "../../../frameworks/examples/hello-framework.js";
import { BatchServiceClient, type Job } from "../../../proto/gen/yard/v1/batch.js";
import { FakeMaster } from "../../framework-sdk/fake-master.js";
import { operatorCredentials, tlsOf } from "../../tls-fixture.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "yard-batch-e2e-"));
let master: MasterHandle;
let agent: AgentHandle;

before(async () => {
  master = await startMaster({
    ...tlsOf("master"),
    dataDir: path.join(root, "master"),
    port: 0,
    httpPort: 0,
    logger: silentLogger,
  });
  agent = await startAgent({
    ...tlsOf("agent"),
    master: master.address,
    dataDir: path.join(root, "agent"),
    cpus: 2,
    mem: 1024,
    disk: 1024,
    logger: silentLogger,
  });
  await FakeMaster.until(() => agent.agentId() !== undefined, 10_000, "agent registration");
});

after(async () => {
  await agent?.stop({ killTasks: true });
  await master?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe("batch framework end to end", () => {
  test("a job of 3 `echo hi` tasks succeeds on a real master and agent", async () => {
    const fw = await startBatchFramework({
      ...tlsOf("batch"),
      master: master.address,
      dataDir: path.join(root, "batch"),
      logger: silentLogger,
    });
    const client = new BatchServiceClient(fw.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
    try {
      const job = await unary(
        client.submitJob,
        client,
        {
          spec: {
            name: "hi",
            command: { value: "echo hi $YARD_TASK_INDEX", arguments: [], shell: true, env: {} },
            resources: { cpus: 0.1, mem: 32, disk: 0, ports: [] },
            tasks: 3,
            maxRetries: 0,
            ports: 0,
            executor: "",
            container: undefined,
          },
        },
        new Metadata(),
      );
      const final = await new Promise<Job>((resolve, reject) => {
        let last: Job | undefined;
        const call = client.watchJob({ jobId: job.id }, new Metadata(), { deadline: Date.now() + 30_000 });
        call.on("data", (j: Job) => {
          last = j;
        });
        call.on("end", () => (last ? resolve(last) : reject(new Error("no job"))));
        call.on("error", reject);
      });
      assert.equal(final.state, "SUCCEEDED", final.message);
      assert.deepEqual(
        final.tasks.map((t) => t.exitCode),
        [0, 0, 0],
      );
      // Sandboxes are named <framework id>_<task id> (agent/agent-task.ts).
      const sandboxes = path.join(root, "agent", "sandboxes");
      const third = fs.readdirSync(sandboxes).find((n) => n.endsWith(`_${job.id}.2.0`));
      assert.ok(third, "the third task's sandbox");
      const stdout = fs.readFileSync(path.join(sandboxes, third, "stdout"), "utf8");
      assert.equal(stdout.trim(), "hi 2");
    } finally {
      client.close();
      await fw.stop();
    }
  });

  test("the guide's example framework runs 3 tasks and exits", async () => {
    const states = await runHello({
      ...tlsOf("framework"),
      master: master.address,
      tasks: 3,
      command: "echo hello",
    });
    assert.deepEqual(Object.values(states), ["FINISHED", "FINISHED", "FINISHED"]);
  });
});
