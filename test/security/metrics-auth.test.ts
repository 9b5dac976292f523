// Hole 5 (its /metrics part): the master's /metrics needed no credentials. Against a real
// master with a policy file: no credentials and a wrong token are 401, a principal without
// view_metrics is 403 (and audited), a viewer's token (as Prometheus sends it) is 200.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { clusterDispatcher } from "../../common/cluster-fetch.js";
import { TestCluster } from "../cluster/harness.js";
import { tlsMaterial } from "../tls-fixture.js";
import { replayEventsUntil, writePolicy } from "./acl-helpers.js";

const cluster = new TestCluster();
let tokens: Record<string, string>;
let url = "";

/** Trusts the cluster CA and presents no certificate: a Prometheus outside the cluster. */
const outside = async () => ({ dispatcher: await clusterDispatcher({ ca: tlsMaterial("admin").ca }) });

async function get(token?: string): Promise<{ status: number; body: string; auth: string | null }> {
  const init = { ...(await outside()), headers: token ? { authorization: `Bearer ${token}` } : {} };
  const res = await fetch(url, init as RequestInit);
  return { status: res.status, body: await res.text(), auth: res.headers.get("www-authenticate") };
}

before(async () => {
  const policy = writePolicy(cluster, [
    { name: "prometheus", kind: "operator", groups: ["viewer"] },
    { name: "some-framework", kind: "framework" },
  ]);
  tokens = policy.tokens;
  await cluster.startMaster(["--acl-file", policy.file]);
  const info = JSON.parse(readFileSync(join(cluster.root, "master-home", "master", "master.json"), "utf8"));
  url = `https://127.0.0.1:${info.httpPort}/metrics`;
});

after(async () => {
  await cluster.stop();
});

describe("/metrics needs a principal allowed view_metrics", { concurrency: false, timeout: 60_000 }, () => {
  test("without credentials: 401 with a Bearer challenge, and no metrics", async () => {
    const r = await get();
    assert.equal(r.status, 401);
    assert.match(r.auth ?? "", /^Bearer/);
    assert.doesNotMatch(r.body, /yard_agents/);
  });

  test("a wrong token: 401", async () => {
    const r = await get("yard_wrong");
    assert.equal(r.status, 401);
    assert.doesNotMatch(r.body, /yard_/);
  });

  test("a principal without view_metrics: 403 naming it, recorded in the audit log", async () => {
    const r = await get(tokens["some-framework"]);
    assert.equal(r.status, 403);
    assert.match(r.body, /principal some-framework \(framework\) may not view_metrics/);
    await replayEventsUntil(cluster, tokens.prometheus!, (es) =>
      es.some(
        (e) =>
          e.type === "AUDIT" && e.action === "view_metrics" && e.principal === "some-framework (framework)",
      ),
    );
  });

  test("a viewer's token, as Prometheus sends it: 200 with the metrics", async () => {
    const r = await get(tokens.prometheus);
    assert.equal(r.status, 200);
    assert.match(r.body, /# TYPE yard_agents gauge/);
  });

  test("/healthz stays open for load balancers", async () => {
    const res = await fetch(url.replace("/metrics", "/healthz"), (await outside()) as RequestInit);
    assert.equal(res.status, 200);
  });
});
