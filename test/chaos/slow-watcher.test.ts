// Defect 11: a client that stops reading a server stream made the master buffer for it
// without bound. A real master and agent; raw gRPC clients open an event watch and a log
// follow and never read them, while the task writes far more output than the master may hold
// and the cluster makes far more events than a watcher may fall behind by. The master's
// memory stays bounded, the watcher is ended with RESOURCE_EXHAUSTED and told where to resume
// (nothing before that index is lost), and the log follower is paused at the agent, not
// dropped: when it reads again it gets every byte.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { status } from "@grpc/grpc-js";
import { unary } from "../../common/grpc.js";
import { TaskState } from "../../framework-sdk/index.js";
import type { ClusterEvent, LogChunk } from "../../proto/gen/yard/v1/operator.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import { operatorClient, sampleRss, stalled } from "./memory-helpers.js";

const MiB = 1024 * 1024;
/** What the task writes to stdout: far beyond what the master may hold for one reader. */
const OUTPUT = 256 * MiB;
/** The master's growth allowed while a reader holds back OUTPUT: relaying the fast reader's copy costs some (garbage not yet collected); holding the stalled one's would cost all of it. */
const GROWTH_LIMIT = 128 * MiB;
/** More events than a watcher may fall behind by (5,000 by default), and less than the log keeps. */
const EVENTS = 7_000;

describe("slow watcher and paused log follower (real master and agent)", { timeout: 120_000 }, () => {
  const cluster = new TestCluster();
  let framework: QueueFramework;
  let client: ReturnType<typeof operatorClient>;
  let agentId = "";

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent({ cpus: 2, mem: 1024 });
    agentId = (await cluster.waitForAgents(1))[0]!.info!.id;
    framework = new QueueFramework(cluster.masterAddress, cluster.token, "slow-watcher");
    await framework.start();
    client = operatorClient(cluster.masterAddress);
  });

  after(async () => {
    client?.close();
    await framework?.driver.stop().catch(() => undefined);
    await cluster.stop();
  });

  test("the master stays bounded; the watcher is dropped with where to resume; the log follow waits", async (t) => {
    framework.submit({ taskId: "chatty", command: `head -c ${OUTPUT} /dev/zero; exec sleep 600` });
    await framework.waitForState("chatty", TaskState.TASK_RUNNING);
    const masterPid = cluster.master!.child.pid!;
    const rss = sampleRss(masterPid);
    const baseline = rss.peak();
    try {
      const md = cluster.metadata();
      const logRequest = {
        taskId: "chatty",
        frameworkId: "",
        stream: "stdout",
        follow: true,
        tailBytes: 0,
        offset: 0,
      };
      const slowLogs = stalled<LogChunk>(client.getTaskLogs(logRequest, md));
      const slowWatch = stalled<ClusterEvent>(
        client.watch({ afterIndex: 0, replay: false, failIfGone: false }, md),
      );

      // A reader that keeps up gets all of the output: by then the agent has had every chance
      // to send the stalled follower's copy too, had nothing held it back.
      let fastBytes = 0;
      const fast = client.getTaskLogs(logRequest, md);
      fast.on("data", (c: LogChunk) => {
        fastBytes += c.data.length;
      });
      fast.on("error", () => undefined);

      // Many events while the watcher does not read (each drain and undrain records one, and
      // one AUDIT event of the operator's action), from a few callers at once.
      let made = 0;
      const caller = async () => {
        while (made < EVENTS) {
          made += 4;
          await unary(client.drainAgent, client, { agentId, killAfterSeconds: 0 }, md);
          await unary(client.undrainAgent, client, { agentId }, md);
        }
      };
      await Promise.all(Array.from({ length: 8 }, caller));
      await waitFor("the fast reader to get all of the output", () => fastBytes >= OUTPUT, 60_000).catch(
        (err) => {
          throw new Error(
            `${err.message} (got ${fastBytes} bytes)\n${cluster.master!.output.join("").slice(-3000)}`,
          );
        },
      );
      fast.cancel();
      await waitFor("the master to drop the stalled watcher", () =>
        cluster.master!.output.join("").includes("dropped a slow event watcher"),
      );

      const growth = rss.peak() - baseline;
      t.diagnostic(
        `master RSS ${(baseline / MiB).toFixed(0)} MiB, grew by at most ${(growth / MiB).toFixed(0)} MiB`,
      );
      assert.ok(
        growth < GROWTH_LIMIT,
        `the master grew by ${(growth / MiB).toFixed(0)} MiB while a reader held back ${OUTPUT / MiB} MiB`,
      );
      assert.equal(slowLogs.ended(), undefined, "the paused log follower was ended, not paused");

      // The watcher, reading again, gets what reached it, then the status and where to resume.
      const seen: number[] = [];
      slowWatch.resume((e) => seen.push(e.index));
      const end = await waitFor("the watcher's stream to end", () => slowWatch.ended());
      assert.equal(end.error?.code, status.RESOURCE_EXHAUSTED, String(end.error));
      const m = /^watcher too slow: (\d+) events behind; reconnect with after_index=(\d+)$/.exec(
        end.error!.details,
      );
      assert.ok(m, end.error!.details);
      assert.ok(Number(m[1]) > 5_000, end.error!.details);
      const sentThrough = Number(m[2]);
      for (let i = 1; i < seen.length; i++) assert.equal(seen[i], seen[i - 1]! + 1, "no event skipped");
      // grpc-js may discard the last few messages it held when the status arrives: a client
      // resumes after the last event it got, which is at most the one the master names.
      const last = seen[seen.length - 1] ?? sentThrough;
      assert.ok(last <= sentThrough, `received ${last}, past the ${sentThrough} named`);
      const resumed = stalled<ClusterEvent>(
        client.watch({ afterIndex: last, replay: false, failIfGone: false }, md),
      );
      let next = 0;
      resumed.resume((e) => {
        next ||= e.index;
      });
      await waitFor("the resumed watch to continue", () => next > 0);
      assert.equal(next, last + 1, "resuming finds the next event still kept");
      resumed.stream.cancel();

      // The paused follower was held at the source: reading again, it gets every byte.
      let slowBytes = 0;
      slowLogs.resume((c) => {
        slowBytes += c.data.length;
      });
      await waitFor("the paused follower to get all of the output", () => slowBytes >= OUTPUT, 60_000);
      assert.equal(slowBytes, OUTPUT);
      slowLogs.stream.cancel();
    } finally {
      rss.stop();
    }
  });
});
