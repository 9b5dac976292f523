// The batch framework against a test master (a real gRPC server playing SchedulerService):
// offers, launches, retries, kills, watch, and a restart that resumes its jobs.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS, unary } from "../../../common/grpc.js";
import { silentLogger, TaskState } from "../../../framework-sdk/index.js";
import { startBatchFramework } from "../../../frameworks/batch/batch-daemon.js";
import { BatchServiceClient, type Job, type JobSpec } from "../../../proto/gen/yard/v1/batch.js";
import type { TaskInfo } from "../../../proto/gen/yard/v1/common.js";
import { Event_Type } from "../../../proto/gen/yard/v1/scheduler.js";
import { FakeMaster } from "../../framework-sdk/fake-master.js";
import { operatorCredentials, tlsOf } from "../../tls-fixture.js";

const until = FakeMaster.until;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "yard-batch-"));
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  fs.rmSync(root, { recursive: true, force: true });
});

function offer(id: string, cpus: number, ports = "") {
  return {
    id,
    frameworkId: "",
    agentId: "agent-1",
    hostname: "h1",
    resources: { cpus, mem: 4096, disk: 0, ports: ports ? [{ begin: 31000, end: 31009 }] : [] },
    attributes: [],
    executors: ["process"],
    releases: [],
  };
}

function jobSpec(extra: Partial<JobSpec> = {}): JobSpec {
  return {
    name: "hello",
    command: { value: "echo hi", arguments: [], shell: true, env: { GREETING: "hi" } },
    resources: { cpus: 1, mem: 64, disk: 0, ports: [] },
    tasks: 3,
    maxRetries: 0,
    ports: 0,
    executor: "",
    container: undefined,
    ...extra,
  };
}

async function setup(token?: string) {
  const master = await new FakeMaster({ token }).start();
  const dataDir = fs.mkdtempSync(path.join(root, "fw-"));
  const launched: TaskInfo[] = [];
  master.onLaunch = (t) => launched.push(t);
  const start = async () => {
    const fw = await startBatchFramework({
      ...tlsOf("batch"),
      master: master.address,
      dataDir,
      token,
      logger: silentLogger,
    });
    cleanups.push(() => fw.stop());
    await until(() => fw.frameworkId() !== undefined, 5000, "subscription");
    const client = new BatchServiceClient(fw.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
    cleanups.push(async () => client.close());
    return { fw, client };
  };
  cleanups.push(() => master.stop());
  return { master, launched, start, dataDir };
}

const md = (token?: string) => {
  const m = new Metadata();
  if (token) m.set("authorization", `Bearer ${token}`);
  return m;
};

/** Watches a job; `started` resolves with the first snapshot, `all` with every one once it ends. */
function watch(client: BatchServiceClient, jobId: string, token?: string) {
  let first: (j: Job) => void = () => {};
  const started = new Promise<Job>((r) => {
    first = r;
  });
  const all = new Promise<Job[]>((resolve, reject) => {
    const seen: Job[] = [];
    const call = client.watchJob({ jobId }, md(token));
    call.on("data", (j: Job) => {
      seen.push(j);
      if (seen.length === 1) first(j);
    });
    call.on("end", () => resolve(seen));
    call.on("error", reject);
  });
  return { started, all };
}

function finishAll(master: FakeMaster, tasks: TaskInfo[], state = TaskState.TASK_FINISHED) {
  for (const t of tasks) {
    master.sendUpdate({ taskId: t.taskId, state: TaskState.TASK_RUNNING });
    master.sendUpdate({ taskId: t.taskId, state, exitCode: state === TaskState.TASK_FINISHED ? 0 : 1 });
  }
}

describe("batch framework", () => {
  test("runs a job of 3 tasks through offers to SUCCEEDED, then suppresses", async () => {
    const { master, launched, start } = await setup("tok");
    const { fw, client } = await start();
    assert.equal(master.subscriptions[0].frameworkInfo!.endpoint, fw.endpoint);
    assert.equal(master.subscriptions[0].frameworkInfo!.name, "batch");
    assert.equal(master.subscriptions[0].frameworkInfo!.failoverTimeoutSeconds, 7 * 24 * 3600);
    await until(() => master.callsOf("Suppress").length === 1, 3000, "suppress while idle");

    await assert.rejects(
      unary(client.submitJob, client, { spec: jobSpec() }, md()),
      (err: any) => err.code === status.UNAUTHENTICATED,
    );
    const job = await unary(client.submitJob, client, { spec: jobSpec({ ports: 1 }) }, md("tok"));
    assert.equal(job.state, "PENDING");
    assert.match(job.id, /^hello-[0-9a-f]{8}$/);
    const watched = watch(client, job.id, "tok");
    await watched.started;
    await until(() => master.callsOf("Revive").length === 1, 3000, "revive on submit");

    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer("o1", 2, "ports"), offer("o2", 0.5)] } });
    await until(() => launched.length === 2, 3000, "two launches on o1");
    await until(() => master.callsOf("Decline").length === 1, 3000, "decline of o2");
    assert.deepEqual(master.callsOf("Decline")[0].request.offerIds, ["o2"]);
    assert.equal(master.callsOf("Decline")[0].request.filters.refuseSeconds, 5);
    assert.deepEqual(
      launched.map((t) => [
        t.taskId,
        t.command?.env.YARD_TASK_INDEX,
        t.command?.env.GREETING,
        t.resources?.ports,
      ]),
      [
        [`${job.id}.0.0`, "0", "hi", [{ begin: 31000, end: 31000 }]],
        [`${job.id}.1.0`, "1", "hi", [{ begin: 31001, end: 31001 }]],
      ],
    );
    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer("o3", 4, "ports")] } });
    await until(() => launched.length === 3, 3000, "third launch");
    finishAll(master, launched);

    const states = (await watched.all).map((j) => j.state);
    assert.equal(states[0], "PENDING");
    assert.equal(states.at(-1), "SUCCEEDED");
    assert.ok(states.includes("RUNNING"));
    const done = await unary(client.getJob, client, { jobId: job.id }, md("tok"));
    assert.deepEqual(
      done.tasks.map((t) => t.state),
      [TaskState.TASK_FINISHED, TaskState.TASK_FINISHED, TaskState.TASK_FINISHED],
    );
    await until(() => master.callsOf("Suppress").length === 2, 3000, "suppress when done");
    await until(() => master.callsOf("Acknowledge").length === 6, 3000, "acks");
  });

  test("retries a failed task with a new task id, and KillJob kills live tasks", async () => {
    const { master, launched, start } = await setup();
    const { client } = await start();
    const job = await unary(client.submitJob, client, { spec: jobSpec({ tasks: 1, maxRetries: 1 }) }, md());
    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer("o1", 4)] } });
    await until(() => launched.length === 1, 3000, "launch");
    finishAll(master, launched, TaskState.TASK_FAILED);
    await until(() => master.callsOf("Revive").length >= 2 || launched.length === 2, 3000, "pending again");
    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer("o2", 4)] } });
    await until(() => launched.length === 2, 3000, "second attempt");
    assert.equal(launched[1].taskId, `${job.id}.0.1`);
    master.sendUpdate({ taskId: launched[1].taskId, state: TaskState.TASK_RUNNING });
    await until(
      () => master.callsOf("Acknowledge").some((c) => c.request.taskId === launched[1].taskId),
      3000,
      "running",
    );
    const killed = await unary(client.killJob, client, { jobId: job.id }, md());
    assert.equal(killed.state, "KILLED");
    await until(() => master.callsOf("Kill").length === 1, 3000, "kill");
    assert.equal(master.callsOf("Kill")[0].request.taskId, `${job.id}.0.1`);

    await assert.rejects(unary(client.getJob, client, { jobId: "nope" }, md()), (err: any) => {
      return err.code === status.NOT_FOUND && /nope/.test(err.details);
    });
  });

  test("a bad spec is refused naming the field", async () => {
    const { start } = await setup();
    const { client } = await start();
    await assert.rejects(
      unary(client.submitJob, client, { spec: jobSpec({ tasks: 0 }) }, md()),
      (err: any) => {
        return (
          err.code === status.INVALID_ARGUMENT && err.details === "spec.tasks: 0 must be between 1 and 10000"
        );
      },
    );
    await assert.rejects(
      unary(client.submitJob, client, { spec: jobSpec({ command: undefined }) }, md()),
      /spec\.command\.value: is empty/,
    );
  });

  test("a restarted framework re-subscribes with its id, reconciles, and finishes its jobs", async () => {
    const { master, launched, start } = await setup();
    const first = await start();
    const id = first.fw.frameworkId();
    const job = await unary(first.client.submitJob, first.client, { spec: jobSpec({ tasks: 2 }) }, md());
    master.send({ type: Event_Type.OFFERS, offers: { offers: [offer("o1", 4)] } });
    await until(() => launched.length === 2, 3000, "launches");
    await first.fw.stop();

    const second = await start();
    assert.equal(second.fw.frameworkId(), id);
    await until(() => master.subscriptions.length === 2, 5000, "re-subscription");
    assert.equal(master.subscriptions.at(-1)!.frameworkInfo!.id, id);
    await until(() => master.callsOf("Reconcile").length >= 3, 3000, "reconcile");
    const explicit = master.callsOf("Reconcile").at(-2)!.request.taskIds;
    assert.deepEqual(explicit, [`${job.id}.0.0`, `${job.id}.1.0`]);
    finishAll(master, launched);
    const states = (await watch(second.client, job.id).all).map((j) => j.state);
    assert.equal(states.at(-1), "SUCCEEDED");
  });
});
