// Principals and ACLs against real daemons: a master with a policy file of per-principal
// tokens, an agent, and the service framework as processes. A viewer cannot deploy, a deployer
// cannot drain, an admin can; a deployer limited to some apps cannot deploy others. Every
// refusal is PERMISSION_DENIED naming the principal and the action (yardctl exits 6), and the
// audit log in the event stream records who did what, on what, with which result.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { TestCluster } from "../cluster/harness.js";
import { ServiceFrameworkProcess } from "../chaos/service-process.js";
import { replayEventsUntil, writePolicy, yardctlAs } from "./acl-helpers.js";

const cluster = new TestCluster();
let tokens: Record<string, string>;
let service: ServiceFrameworkProcess;

function spec(name: string): string {
  const file = join(cluster.root, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\ncommand: sleep 600\ninstances: 1\nresources: { cpus: 0.1, mem: 32 }\n`);
  return file;
}

before(async () => {
  const policy = writePolicy(
    cluster,
    [
      { name: "alice", kind: "operator", groups: ["viewer"] },
      { name: "bob", kind: "operator", groups: ["deployer"] },
      { name: "carol", kind: "operator", groups: ["admin"] },
      { name: "dave", kind: "operator" },
      { name: "service", kind: "framework" },
    ],
    // dave deploys only the apps whose names start with "web-"; the built-in group bindings
    // are restated because a bindings section replaces the default one.
    [
      "bindings:",
      "  - { role: admin, groups: [admin] }",
      "  - { role: deployer, groups: [deployer] }",
      "  - { role: viewer, groups: [viewer] }",
      "  - { role: deployer, principals: [dave], apps: ['web-*'] }",
      "",
    ].join("\n"),
  );
  tokens = policy.tokens;
  await cluster.startMaster(["--acl-file", policy.file]);
  await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(1);
  service = new ServiceFrameworkProcess(cluster, tokens.service!);
  await service.start();
});

after(async () => {
  await service?.stop();
  await cluster.stop();
});

describe("operator ACLs", { concurrency: false, timeout: 120_000 }, () => {
  test("a viewer cannot deploy: PERMISSION_DENIED naming the principal and the action, exit 6", async () => {
    const r = await yardctlAs(cluster, tokens.alice!, ["deploy", "-f", spec("web-a")]);
    assert.equal(r.code, 6, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /permission denied by .*principal alice \(operator\) may not deploy web-a/);
    // ... but may look.
    const get = await yardctlAs(cluster, tokens.alice!, ["get", "agents"]);
    assert.equal(get.code, 0, get.stderr);
  });

  test("a deployer can deploy", async () => {
    const r = await yardctlAs(cluster, tokens.bob!, ["deploy", "-f", spec("web-a")]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}\n${service.output.join("")}`);
  });

  test("a deployer cannot drain; an admin can", async () => {
    const agentId = (await cluster.getAgents())[0]!.info!.id;
    const denied = await yardctlAs(cluster, tokens.bob!, ["drain", agentId]);
    assert.equal(denied.code, 6, `${denied.stdout}\n${denied.stderr}`);
    assert.match(denied.stderr, new RegExp(`principal bob \\(operator\\) may not drain ${agentId}`));
    assert.equal((await cluster.getAgents())[0]!.status, "ACTIVE");

    const allowed = await yardctlAs(cluster, tokens.carol!, ["drain", agentId]);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal((await cluster.getAgents())[0]!.status, "DRAINING");
    const undrain = await yardctlAs(cluster, tokens.carol!, ["undrain", agentId]);
    assert.equal(undrain.code, 0, undrain.stderr);
  });

  test("a deployer bound to some apps deploys those and no other", async () => {
    const other = await yardctlAs(cluster, tokens.dave!, ["deploy", "-f", spec("db")]);
    assert.equal(other.code, 6, `${other.stdout}\n${other.stderr}`);
    assert.match(other.stderr, /principal dave \(operator\) may not deploy db/);
    const own = await yardctlAs(cluster, tokens.dave!, ["deploy", "-f", spec("web-b")]);
    assert.equal(own.code, 0, `${own.stdout}\n${own.stderr}`);
  });

  test("a viewer cannot grant an outside host a release (grant_release)", async () => {
    const out = join(cluster.root, "granted.torrent");
    const r = await yardctlAs(cluster, tokens.alice!, [
      "release",
      "torrent",
      "web@1.0",
      "--grant",
      "127.0.0.1",
      "-o",
      out,
    ]);
    assert.equal(r.code, 6, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /principal alice \(operator\) may not grant_release web@1\.0/);
  });

  test("an unknown token is UNAUTHENTICATED (exit 5)", async () => {
    const r = await yardctlAs(cluster, "yard_not-a-token", ["get", "agents"]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /missing or wrong token/);
  });

  test("the audit log records who, what, on what, and the result, refusals included", async () => {
    const agentId = (await cluster.getAgents())[0]!.info!.id;
    const want: [string, string, string, RegExp][] = [
      ["alice (operator)", "deploy", "web-a", /^denied: principal alice \(operator\) may not deploy web-a/],
      ["bob (operator)", "deploy", "web-a", /^ok \(through service \(framework\)\)$/],
      ["bob (operator)", "drain", agentId, /^denied: principal bob \(operator\) may not drain/],
      ["carol (operator)", "drain", agentId, /^ok$/],
      ["dave (operator)", "deploy", "db", /^denied: /],
      ["dave (operator)", "deploy", "web-b", /^ok /],
    ];
    const found = (
      events: { type: string; principal: string; action: string; object: string; result: string }[],
    ) =>
      want.every(([who, action, object, result]) =>
        events.some(
          (e) =>
            e.type === "AUDIT" &&
            e.principal === who &&
            e.action === action &&
            e.object === object &&
            result.test(e.result),
        ),
      );
    const events = await replayEventsUntil(cluster, tokens.alice!, found);
    const audit = events.filter((e) => e.type === "AUDIT");
    assert.ok(audit.every((e) => e.timestamp > 0));
    // No secret ever reaches the event stream.
    const all = JSON.stringify(events);
    for (const t of Object.values(tokens)) assert.ok(!all.includes(t), "a token appears in the events");
    assert.ok(!all.includes(cluster.token), "the cluster token appears in the events");
    // yardctl events prints them, one line each.
    const printed = await yardctlAs(cluster, tokens.alice!, ["events"]);
    assert.equal(printed.code, 0, printed.stderr);
    assert.match(
      printed.stdout,
      /AUDIT .*bob \(operator\) drain .*: denied: principal bob \(operator\) may not drain/,
    );
  });
});
