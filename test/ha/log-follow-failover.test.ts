// `yardctl logs -f` through a failover, with yardctl's own log reader against real masters on
// a real etcd and a real agent: the leader relaying the log is killed with SIGKILL; the read
// resumes at the new leader from the byte after the last one it got, so the task's numbered
// lines come out each once, in order, with none missing.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { OperatorClient } from "../../cli/clients.js";
import { pumpLogs } from "../../cli/log-stream.js";
import { TaskState } from "../../framework-sdk/index.js";
import { waitFor } from "../cluster/harness.js";
import { QueueFramework } from "../cluster/queue-framework.js";
import { tlsMaterial } from "../tls-fixture.js";
import { HaCluster } from "./ha-cluster.js";

const c = new HaCluster(2);
let fw: QueueFramework | undefined;
before(() => c.start(2));
after(async () => {
  await fw?.driver.stop().catch(() => undefined);
  await c.stop();
});

test("logs -f: the master relaying the log is killed; the read goes on at the new leader, no line twice or lost", async () => {
  const old = await c.leader();
  c.startAgent(c.addresses.join(","));
  fw = new QueueFramework(c.addresses.join(","), c.token, "log-fw");
  await fw.start();
  fw.submit({
    taskId: "counter",
    command: "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); echo n=$i; sleep 0.02; done",
  });
  await fw.waitForState("counter", TaskState.TASK_RUNNING);

  const client = new OperatorClient({
    address: c.addresses.join(","),
    token: c.token,
    tls: tlsMaterial("admin"),
  });
  const stop = new AbortController();
  let text = "";
  const resumes: string[] = [];
  const stderrWrite = process.stderr.write.bind(process.stderr);
  // pumpLogs says on stderr that it resumed: kept for the assertion.
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (String(chunk).includes("resuming at byte")) resumes.push(String(chunk));
    return (stderrWrite as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  const reading = pumpLogs(
    client,
    { taskId: "counter", stream: "stdout", follow: true },
    (data) => {
      text += data.toString();
      return undefined;
    },
    stop.signal,
  ).catch((err: unknown) => err);
  try {
    await waitFor("lines through the first leader", () => (text.split("\n").length > 20 ? true : undefined));
    const before = text.split("\n").length;
    await c.kill(c.masters[old], "SIGKILL");
    await waitFor(
      "the read resumed at the new leader",
      () => (resumes.length > 0 ? true : undefined),
      60_000,
    );
    await waitFor(
      "lines after the resume",
      () => (text.split("\n").length > before + 50 ? true : undefined),
      60_000,
    );
  } finally {
    stop.abort();
    process.stderr.write = stderrWrite;
  }
  const outcome = await reading;
  assert.ok(!(outcome instanceof Error), `the read failed: ${String(outcome)}`);
  const lines = text.split("\n").filter((l) => l !== "");
  // The last line may be cut where the read stopped.
  const numbers = lines.slice(0, -1).map((l) => Number(/^n=(\d+)$/.exec(l)?.[1]));
  for (const [i, n] of numbers.entries())
    assert.equal(n, i + 1, `line ${i + 1} is ${JSON.stringify(lines[i])}`);
  client.close();
});
