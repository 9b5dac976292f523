// Hole 1: any token holder could take over a framework. Subscribing with the service
// framework's id returned a fresh session; a Teardown with it killed every instance, renamed
// the framework, and the real framework stopped retrying ("superseded").
// Here the attack is run against real daemons (master, agent, the service framework as
// processes, per-principal tokens): another framework principal, the holder of the cluster
// token, and the holder of the service framework's own token without its framework secret
// all try to subscribe with the id and to tear the framework down. Each is PERMISSION_DENIED
// naming the principals; the real framework stays subscribed and its instances keep running.
// Then a failover with the framework secret succeeds: the superseded subscription learns who
// took over, and the restarted framework keeps its instances.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { TaskState } from "../../common/task-states.js";
import { FrameworkInfo } from "../../proto/gen/yard/v1/common.js";
import { type Event, SchedulerServiceClient } from "../../proto/gen/yard/v1/scheduler.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { ServiceFrameworkProcess } from "../chaos/service-process.js";
import { replayEventsUntil, writePolicy, yardctlAs } from "./acl-helpers.js";
import { frameworkCredentials } from "../tls-fixture.js";

const cluster = new TestCluster();
let tokens: Record<string, string>;
let service: ServiceFrameworkProcess;
let serviceId = "";
let instances: string[] = [];
const clients: SchedulerServiceClient[] = [];

function client(): SchedulerServiceClient {
  const c = new SchedulerServiceClient(cluster.masterAddress, frameworkCredentials(), CHANNEL_OPTIONS);
  clients.push(c);
  return c;
}

type Outcome =
  | { subscribed: true; stream: { cancel(): void }; ended: Promise<{ code: number; details: string }> }
  | { subscribed: false; code: number; details: string };

/** Subscribes with the service framework's id as the holder of `token`. */
function subscribeAs(token: string, secret = ""): Promise<Outcome> {
  return new Promise((resolve) => {
    const stream = client().subscribe(
      {
        frameworkInfo: FrameworkInfo.fromPartial({ id: serviceId, name: "not-the-service", role: "*" }),
        frameworkSecret: secret,
      },
      authMetadata(token),
    );
    let ended: (e: { code: number; details: string }) => void = () => {};
    const endedP = new Promise<{ code: number; details: string }>((r) => (ended = r));
    stream.on("data", (e: Event) => {
      if (e.subscribed) resolve({ subscribed: true, stream, ended: endedP });
    });
    stream.on("error", (err: { code: number; details: string }) => {
      ended({ code: err.code, details: err.details });
      resolve({ subscribed: false, code: err.code, details: err.details });
    });
  });
}

async function teardownAs(token: string): Promise<{ code: number; details: string } | undefined> {
  const c = client();
  try {
    await unary(c.teardown, c, { frameworkId: serviceId }, authMetadata(token));
    return undefined;
  } catch (err) {
    return err as { code: number; details: string };
  }
}

async function runningInstances(): Promise<string[]> {
  return (await cluster.getTasks(false))
    .filter((t) => t.frameworkId === serviceId && t.status?.state === TaskState.TASK_RUNNING)
    .map((t) => t.info!.taskId)
    .sort();
}

const PERMISSION_DENIED = 7;

before(async () => {
  const policy = writePolicy(cluster, [
    { name: "service", kind: "framework" },
    { name: "mallory", kind: "framework" },
    { name: "bob", kind: "operator", groups: ["deployer"] },
  ]);
  tokens = policy.tokens;
  await cluster.startMaster(["--acl-file", policy.file]);
  await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(1);
  service = new ServiceFrameworkProcess(cluster, tokens.service!);
  await service.start();
  serviceId = (await cluster.getFrameworks()).find((f) => f.info?.name === "service")!.info!.id;
  const file = join(cluster.root, "web.yaml");
  writeFileSync(file, "name: web\ncommand: sleep 600\ninstances: 2\nresources: { cpus: 0.1, mem: 32 }\n");
  const deployed = await yardctlAs(cluster, tokens.bob!, ["deploy", "-f", file]);
  assert.equal(deployed.code, 0, deployed.stderr);
  instances = await waitFor("two running instances", async () => {
    const ids = await runningInstances();
    return ids.length === 2 && ids;
  });
});

after(async () => {
  for (const c of clients) c.close();
  await service?.stop();
  await cluster.stop();
});

describe("framework takeover (hole 1)", { concurrency: false, timeout: 120_000 }, () => {
  test("the framework records the principal that registered it", async () => {
    const fw = (await cluster.getFrameworks()).find((f) => f.info?.id === serviceId)!;
    assert.equal(fw.principal, "service (framework)");
    const listed = await yardctlAs(cluster, tokens.bob!, ["get", "frameworks"]);
    assert.match(
      listed.stdout,
      new RegExp(`${serviceId}\\s+service\\s+\\*\\s+service \\(framework\\)\\s+CONNECTED`),
    );
  });

  test("another framework principal cannot subscribe with the id", async () => {
    const r = await subscribeAs(tokens.mallory!);
    assert.equal(r.subscribed, false);
    assert.equal(r.subscribed === false && r.code, PERMISSION_DENIED);
    assert.match(
      r.subscribed === false ? r.details : "",
      new RegExp(
        `principal mallory \\(framework\\) may not subscribe as framework ${serviceId}: it was registered by principal service \\(framework\\)`,
      ),
    );
  });

  test("the holder of the cluster token cannot subscribe with the id", async () => {
    const r = await subscribeAs(cluster.token);
    assert.equal(r.subscribed === false && r.code, PERMISSION_DENIED);
    assert.match(
      r.subscribed === false ? r.details : "",
      /principal cluster-token \(operator\) may not subscribe/,
    );
  });

  test("the framework's own (stolen) token without the framework secret cannot fail over", async () => {
    const r = await subscribeAs(tokens.service!, "not-the-secret");
    assert.equal(r.subscribed === false && r.code, PERMISSION_DENIED);
    assert.match(r.subscribed === false ? r.details : "", /framework secret issued at its registration/);
  });

  test("no one else can tear the framework down", async () => {
    for (const token of [tokens.mallory!, cluster.token, tokens.service!]) {
      const err = await teardownAs(token);
      assert.equal(err?.code, PERMISSION_DENIED, JSON.stringify(err));
    }
    const mallory = await teardownAs(tokens.mallory!);
    assert.match(
      mallory!.details,
      new RegExp(`principal mallory \\(framework\\) may not act as framework ${serviceId}`),
    );
  });

  test("the real framework is untouched: subscribed, same name, instances running, still at work", async () => {
    const fw = (await cluster.getFrameworks()).find((f) => f.info?.id === serviceId)!;
    assert.equal(fw.status, "CONNECTED");
    assert.equal(fw.info?.name, "service");
    assert.deepEqual(await runningInstances(), instances);
    // Positive signal that it still works: it answers a scale-up with a third instance.
    const file = join(cluster.root, "web3.yaml");
    writeFileSync(file, "name: web\ncommand: sleep 600\ninstances: 3\nresources: { cpus: 0.1, mem: 32 }\n");
    const scaled = await yardctlAs(cluster, tokens.bob!, ["deploy", "-f", file]);
    assert.equal(scaled.code, 0, scaled.stderr);
    const three = await waitFor("three running instances", async () => {
      const ids = await runningInstances();
      return ids.length === 3 && ids;
    });
    for (const id of instances) assert.ok(three.includes(id), `instance ${id} survived`);
    instances = three;
    // Every refused attempt is in the audit log; no subscription replaced the framework's.
    const events = await replayEventsUntil(
      cluster,
      tokens.bob!,
      (es) =>
        es.filter((e) => e.type === "AUDIT" && e.action === "subscribe" && e.object === serviceId).length >=
        3,
    );
    assert.ok(
      !events.some(
        (e) =>
          e.frameworkId === serviceId &&
          (e.type === "FRAMEWORK_RESUBSCRIBED" || e.type === "FRAMEWORK_REMOVED"),
      ),
    );
    assert.ok(
      events.some(
        (e) => e.type === "AUDIT" && e.action === "teardown" && e.principal === "mallory (framework)",
      ),
    );
  });

  test("a failover with the framework secret succeeds; the superseded subscription learns who took over", async () => {
    const db = new Database(join(cluster.root, "service-home", "service", "service.db"), { readonly: true });
    const secret = (
      db.prepare("SELECT value FROM meta WHERE key = 'framework_secret'").get() as { value: string }
    ).value;
    db.close();
    const r = await subscribeAs(tokens.service!, secret);
    assert.equal(r.subscribed, true);
    const superseded = await waitFor(
      "the service framework to hear it was superseded",
      () =>
        /superseded: framework \S+ was subscribed again by principal service \(framework\) from \S+/.exec(
          service.output.join(""),
        ) ?? undefined,
    );
    assert.ok(superseded[0].includes(serviceId));
    const events = await replayEventsUntil(cluster, tokens.bob!, (es) =>
      es.some((e) => e.type === "FRAMEWORK_RESUBSCRIBED" && e.frameworkId === serviceId),
    );
    const resub = events.find((e) => e.type === "FRAMEWORK_RESUBSCRIBED" && e.frameworkId === serviceId)!;
    assert.equal(resub.principal, "service (framework)");
    if (r.subscribed) r.stream.cancel();

    // The real framework, restarted, fails over with the id and secret it kept: the instances live on.
    await service.kill();
    await service.start();
    assert.deepEqual(await runningInstances(), instances);
  });
});
