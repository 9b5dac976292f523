// Defect 11: the master's stop awaited grpc-js's tryShutdown, which waits for every open call,
// so a watcher or a log follower that does not read kept a stopping master alive for as long
// as it stayed connected. Real daemons, each started with a short shutdown grace: the master
// with a stalled event watch and a stalled log follow of a chatty task, the batch framework
// with an open job watch, the service framework and the agent after their master is gone.
// Each gets SIGTERM and must exit by its grace period (plus a margin for a loaded machine):
// the grace is what makes "it did not hang" observable.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { unary } from "../../common/grpc.js";
import { TaskState } from "../../framework-sdk/index.js";
import { BatchServiceClient, type Job } from "../../proto/gen/yard/v1/batch.js";
import type { ClusterEvent, LogChunk } from "../../proto/gen/yard/v1/operator.js";
import { CHANNEL_OPTIONS } from "../../common/grpc.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import {
  type Daemon,
  killDaemon,
  operatorClient,
  spawnYardctl,
  stalled,
  timeExit,
  waitForOutput,
} from "./memory-helpers.js";
import { operatorCredentials } from "../tls-fixture.js";

const GRACE_S = 3;
/** Time past the grace for the process to close its stores and exit on a loaded machine. */
const MARGIN_MS = 5_000;
/** The agent kills its tasks first, each with this grace. */
const KILL_GRACE_S = 1;

describe("daemons stop within their grace period (real processes)", { timeout: 120_000 }, () => {
  const cluster = new TestCluster(["--shutdown-grace", String(GRACE_S)]);
  let framework: QueueFramework | undefined;
  let batch: Daemon | undefined;
  let service: Daemon | undefined;
  const clients: { close(): void }[] = [];

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent({
      cpus: 2,
      mem: 1024,
      extraArgs: ["--shutdown-grace", String(GRACE_S), "--kill-grace", String(KILL_GRACE_S)],
    });
    await cluster.waitForAgents(1);
  });

  after(async () => {
    for (const c of clients) c.close();
    await framework?.driver.stop().catch(() => undefined);
    killDaemon(batch);
    killDaemon(service);
    await cluster.stop();
  });

  function startFramework(kind: "batch" | "service"): Daemon {
    const port = kind === "batch" ? "--batch-port" : "--service-port";
    return spawnYardctl([
      kind,
      "--master",
      cluster.masterAddress,
      "--data-dir",
      join(cluster.root, `${kind}-home`),
      "--token",
      cluster.token,
      port,
      "0",
      "--shutdown-grace",
      String(GRACE_S),
    ]);
  }

  test("master with a stalled watcher and log follower, then batch, service and agent without it", async (t) => {
    const md = cluster.metadata();
    batch = startFramework("batch");
    service = startFramework("service");
    const batchEndpoint = (await waitForOutput(batch, /batch framework serving on (\S+),/))[1]!;
    await waitForOutput(service, /service framework serving on \S+,/);

    // A chatty task whose output a stalled follower holds back in the master's HTTP/2 stream.
    framework = new QueueFramework(cluster.masterAddress, cluster.token, "shutdown-test");
    await framework.start();
    framework.submit({ taskId: "chatty", command: "head -c 67108864 /dev/zero; exec sleep 600" });
    await framework.waitForState("chatty", TaskState.TASK_RUNNING);
    const operator = operatorClient(cluster.masterAddress);
    clients.push(operator);
    const logs = stalled<LogChunk>(
      operator.getTaskLogs(
        { taskId: "chatty", frameworkId: "", stream: "stdout", follow: true, tailBytes: 0, offset: 0 },
        md,
      ),
    );
    const watch = stalled<ClusterEvent>(
      operator.watch({ afterIndex: 0, replay: true, failIfGone: false }, md),
    );

    // A batch job that runs, and a watch of it that stays open.
    const batchClient = new BatchServiceClient(
      batchEndpoint,
      operatorCredentials("framework"),
      CHANNEL_OPTIONS,
    );
    clients.push(batchClient);
    const job = await unary(
      batchClient.submitJob,
      batchClient,
      {
        spec: {
          name: "sleeper",
          command: { value: "sleep 600", arguments: [], shell: true, env: {} },
          resources: { cpus: 0.1, mem: 16, disk: 0, ports: [] },
          tasks: 1,
          maxRetries: 0,
          ports: 0,
          executor: "",
        },
      },
      md,
    );
    const jobWatch = stalled<Job>(batchClient.watchJob({ jobId: job.id }, md));
    await waitFor("the batch job to run", async () => {
      const j = await unary(batchClient.getJob, batchClient, { jobId: job.id }, md);
      return j.state === "RUNNING";
    });
    // A reader that keeps up gets 16 MiB of the output: the stalled follower, which holds at
    // most HTTP/2's window, has far more waiting for it at the master.
    let fastBytes = 0;
    const fast = operator.getTaskLogs(
      { taskId: "chatty", frameworkId: "", stream: "stdout", follow: true, tailBytes: 0, offset: 0 },
      md,
    );
    fast.on("data", (c: LogChunk) => {
      fastBytes += c.data.length;
    });
    fast.on("error", () => undefined);
    await waitFor("a reader that keeps up to get 16 MiB", () => fastBytes >= 16 * 1024 * 1024, 30_000);
    fast.cancel();
    assert.equal(logs.ended(), undefined);
    assert.equal(watch.ended(), undefined);
    assert.equal(jobWatch.ended(), undefined);

    const limit = GRACE_S * 1000 + MARGIN_MS;
    const master = await timeExit(cluster.master!.child, "SIGTERM", limit + 10_000);
    t.diagnostic(`master exited in ${master.ms} ms`);
    assert.ok(master.ms <= limit, `master took ${master.ms} ms to stop, grace ${GRACE_S} s`);
    assert.equal(master.code, 0, cluster.master!.output.join("").slice(-2000));

    const b = await timeExit(batch.child, "SIGTERM", limit + 10_000);
    t.diagnostic(`batch framework exited in ${b.ms} ms`);
    assert.ok(b.ms <= limit, `batch framework took ${b.ms} ms to stop, grace ${GRACE_S} s`);
    assert.equal(b.code, 0, batch.output.join("").slice(-2000));

    const s = await timeExit(service.child, "SIGTERM", limit + 10_000);
    t.diagnostic(`service framework exited in ${s.ms} ms`);
    assert.ok(s.ms <= limit, `service framework took ${s.ms} ms to stop, grace ${GRACE_S} s`);
    assert.equal(s.code, 0, service.output.join("").slice(-2000));

    const agentLimit = limit + KILL_GRACE_S * 1000;
    const a = await timeExit(cluster.agents[0]!.child, "SIGTERM", agentLimit + 10_000);
    t.diagnostic(`agent exited in ${a.ms} ms`);
    for (const d of [cluster.master!, batch, service, cluster.agents[0]!]) {
      for (const line of d.output.join("").split("\n")) {
        if (/did not finish within|failed during shutdown|were cut/.test(line)) t.diagnostic(line);
      }
    }
    assert.ok(a.ms <= agentLimit, `agent took ${a.ms} ms to stop, grace ${GRACE_S} s + kill grace`);
    assert.equal(a.code, 0, cluster.agents[0]!.output.join("").slice(-2000));
  });
});
