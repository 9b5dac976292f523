// Defect: `instances: 1e100` was accepted and broke `get apps` for every app; a 10 MB spec
// was applied while yardctl said "cannot reach", the framework grew to 475 MB and each failed
// launch stored ~10 MB in the master. Fault: specs past every bound, through yardctl and
// straight at the framework's API. Invariant: each is refused at apply with the field, the
// value and the limit; nothing is applied; other apps stay visible; the framework's memory
// stays bounded.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { status as Code } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { DeployServiceClient } from "../../proto/gen/yard/v1/deploy.js";
import { TestCluster } from "../cluster/harness.js";
import { type ServiceProcess, startServiceProcess } from "./bounds-helpers.js";
import { operatorCredentials } from "../tls-fixture.js";

const MiB = 1024 * 1024;
const cluster = new TestCluster();
let service: ServiceProcess | undefined;
let client: DeployServiceClient | undefined;

before(async () => {
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 2, mem: 1024 });
  await cluster.waitForAgents(1);
  service = await startServiceProcess(cluster);
  client = new DeployServiceClient(service.endpoint, operatorCredentials("framework"), CHANNEL_OPTIONS);
});

after(async () => {
  client?.close();
  await service?.stop();
  await cluster.stop();
});

function writeSpec(name: string, text: string): string {
  const file = path.join(cluster.root, name);
  fs.writeFileSync(file, text);
  return file;
}

const spec = (name: string, extra = "") =>
  `name: ${name}\ncommand: sleep 300\ninstances: 1\nresources: { cpus: 0.1, mem: 32, ports: 0 }\nkill_grace: 1\nrollout: { min_healthy_time: 0 }\n${extra}`;

async function apply(specYaml: string): Promise<{ code: number; details: string }> {
  try {
    await unary(
      client!.apply,
      client,
      { specYaml, fileName: "spec.yaml" },
      authMetadata(cluster.token),
      30_000,
    );
    return { code: Code.OK, details: "" };
  } catch (err) {
    const e = err as { code: number; details: string };
    return { code: e.code, details: e.details };
  }
}

describe("unbounded specs", () => {
  test("specs past the bounds are refused at apply, other apps stay visible, the framework stays small", async () => {
    const good = await cluster.yardctl(
      ["deploy", "-f", writeSpec("web.yaml", spec("web")), "--watch"],
      60_000,
    );
    assert.equal(good.code, 0, `${good.stdout}\n${good.stderr}`);
    const rssBefore = service!.rssBytes();

    const huge = await cluster.yardctl([
      "deploy",
      "-f",
      writeSpec("huge.yaml", spec("huge", "instances: 1e100\n").replace("instances: 1\n", "")),
    ]);
    assert.equal(huge.code, 2, huge.stderr);
    assert.match(huge.stderr, /instances: 1e\+100 is over the limit of 10,000/);

    // 10 MiB: yardctl says what is wrong instead of "cannot reach".
    const tenMiB = spec("big", `env: { PAD: ${"x".repeat(10 * MiB)} }\n`);
    const big = await cluster.yardctl(["deploy", "-f", writeSpec("big.yaml", tenMiB)]);
    assert.equal(big.code, 2, big.stderr);
    assert.match(big.stderr, /big\.yaml.*the spec is 10,485,9\d\d bytes, over the limit of 256 KiB/);
    assert.doesNotMatch(big.stderr, /cannot reach/);

    // Straight at the API, past yardctl: the server's receive limit refuses it undecoded,
    // and a spec under that limit but over the spec limit is refused before it is parsed.
    for (let i = 0; i < 5; i++) {
      const r = await apply(tenMiB);
      assert.equal(r.code, Code.RESOURCE_EXHAUSTED, r.details);
    }
    const r = await apply(spec("mid", `env: { PAD: ${"x".repeat(300 * 1024)} }\n`));
    assert.equal(r.code, Code.INVALID_ARGUMENT);
    assert.match(
      r.details,
      /^spec\.yaml: 1 problem\(s\):\n {2}\(file\): the spec is 307,\d{3} bytes, over the limit of 256 KiB$/,
    );

    const apps = await cluster.yardctl(["get", "apps"]);
    assert.equal(apps.code, 0, apps.stderr);
    assert.match(apps.stdout, /^web\s+1\s+1\s+1\/1/m);
    assert.doesNotMatch(apps.stdout, /huge|big|mid/, "nothing of the refused specs was applied");
    const tasks = await cluster.getTasks(true);
    assert.deepEqual(
      tasks.map((t) => t.info?.taskId.split(".")[0]),
      ["web"],
      "no launch of a refused spec",
    );
    const grown = service!.rssBytes() - rssBefore;
    assert.ok(grown < 64 * MiB, `the framework grew by ${Math.round(grown / MiB)} MiB`);
  });
});
