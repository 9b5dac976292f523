// Transport security against real daemons (yardctl master + agent, spawned): the master
// speaks mTLS only. A client certificate from another CA, an expired one, none, or plaintext
// is refused; a master without certificates and without --insecure does not start and says
// how to make them; --insecure warns. The cluster token never shows on a command line or in
// a log.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { get as httpGet } from "node:http";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type ChannelCredentials, credentials, status } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { createCa, initCaDir, issueCertificate, readCaDir } from "../../common/pki.js";
import { channelCredentials, INSECURE_WARNING } from "../../common/tls.js";
import { OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { TestCluster, YARDCTL } from "../cluster/harness.js";
import { logRecords } from "../log-records.js";
import { operatorCredentials, testTlsDir, tlsMaterial } from "../tls-fixture.js";

const DAY = 86_400_000;

/** GetAgents on the cluster's master with `creds`; resolves the agent count or rejects with the gRPC error. */
async function agentCount(cluster: TestCluster, creds: ChannelCredentials): Promise<number> {
  const client = new OperatorServiceClient(cluster.masterAddress, creds, CHANNEL_OPTIONS);
  try {
    return (await unary(client.getAgents, client, {}, authMetadata(cluster.token), 10_000)).agents.length;
  } finally {
    client.close();
  }
}

const refused = (err: unknown) => (err as { code?: number }).code === status.UNAVAILABLE;

/** Runs `yardctl args` with `env` (no inherited YARD_*) until it exits or prints `until`. */
function runDaemon(
  args: string[],
  env: Record<string, string>,
  until?: RegExp,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [YARDCTL, ...args], {
      env: { PATH: process.env.PATH ?? "", YARD_LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const seen = (b: Buffer) => {
      output += b;
      if (until?.test(output)) child.kill("SIGTERM");
    };
    child.stdout.on("data", seen);
    child.stderr.on("data", seen);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("mTLS against a real master and agent", () => {
  const cluster = new TestCluster();

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent();
    await cluster.waitForAgents(1);
  });
  after(async () => {
    await cluster.stop();
  });

  test("an operator certificate from the cluster CA is served (the control)", async () => {
    assert.equal(await agentCount(cluster, operatorCredentials()), 1);
  });

  test("a client certificate from another CA is refused", async () => {
    const other = createCa({ name: "attacker CA" });
    const forged = issueCertificate(other, { kind: "operator", name: "admin", groups: ["admin"] });
    // It trusts the real cluster CA, so only its own certificate can be the reason.
    const creds = credentials.createSsl(
      tlsMaterial("admin").ca,
      Buffer.from(forged.key),
      Buffer.from(forged.cert),
    );
    await assert.rejects(agentCount(cluster, creds), refused);
  });

  test("an expired certificate from the cluster CA is refused", async () => {
    const expired = issueCertificate(readCaDir(testTlsDir()), {
      kind: "operator",
      name: "admin",
      groups: ["admin"],
      notBefore: new Date(Date.now() - 30 * DAY),
      notAfter: new Date(Date.now() - DAY),
    });
    const m = { ca: tlsMaterial("admin").ca, cert: Buffer.from(expired.cert), key: Buffer.from(expired.key) };
    await assert.rejects(agentCount(cluster, channelCredentials(m)), refused);
  });

  test("a TLS client without a certificate, and a plaintext client, are refused", async () => {
    await assert.rejects(agentCount(cluster, credentials.createSsl(tlsMaterial("admin").ca)), refused);
    await assert.rejects(agentCount(cluster, credentials.createInsecure()), refused);
  });

  test("the HTTP port serves HTTPS with the cluster's certificate, not plaintext", async () => {
    const port = JSON.parse(
      readFileSync(join(cluster.root, "master-home", "master", "master.json"), "utf8"),
    ).httpPort;
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet({ host: "127.0.0.1", port, path: "/healthz", ca: tlsMaterial("admin").ca }, (res) => {
        let b = "";
        res.on("data", (c) => (b += c));
        res.on("end", () => resolve(b));
      }).on("error", reject);
    });
    assert.equal(body, "ok\n");
    await assert.rejects(
      new Promise((resolve, reject) =>
        httpGet({ host: "127.0.0.1", port, path: "/healthz" }, resolve).on("error", reject),
      ),
    );
  });

  test("the token is on no daemon's command line and in no log", async () => {
    const pids = [cluster.master!.child.pid!, cluster.agents[0]!.child.pid!];
    for (const pid of pids) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
      assert.match(cmdline, /yardctl\.js (master|agent)/, "the daemon's own command line was read");
      assert.ok(!cmdline.includes(cluster.token), `token on the command line of ${pid}: ${cmdline}`);
    }
    const logs = [...cluster.master!.output, ...cluster.agents[0]!.output].join("");
    assert.match(logs, /agent registered/, "the logs were captured");
    assert.ok(!logs.includes(cluster.token), "token in a daemon's log");
  });
});

describe("starting without TLS", () => {
  const home = mkdtempSync(join(tmpdir(), "yard-sec-notls-"));
  after(() => rmSync(home, { recursive: true, force: true }));

  test("a master without certificates and without --insecure refuses to start and says how to make them", async () => {
    const r = await runDaemon(["master", "--port", "0", "--http-port", "0"], { YARD_HOME: join(home, "a") });
    assert.notEqual(r.code, 0);
    assert.match(r.output, /TLS (ca|cert) file .* does not exist/);
    assert.match(r.output, /yardctl certs init --dir .* --kind master --name master/);
    assert.match(r.output, /or pass --insecure/);
    assert.doesNotMatch(r.output, /master listening/);
  });

  test("--insecure starts in plaintext and warns", async () => {
    const r = await runDaemon(
      ["master", "--insecure", "--port", "0", "--http-port", "0"],
      { YARD_HOME: join(home, "b") },
      /master listening/,
    );
    const listening = logRecords(r.output).find((rec) => rec.msg.startsWith("master listening"));
    assert.equal(listening?.transport, "insecure", r.output);
    assert.ok(r.output.includes(INSECURE_WARNING), r.output);
  });

  test("an agent given a certificate of another CA than its ca.crt refuses to start", async () => {
    const dir = join(home, "mixed");
    initCaDir(dir);
    const other = createCa();
    const stray = issueCertificate(other, { kind: "agent", name: "agent" });
    writeFileSync(join(dir, "agent.crt"), stray.cert);
    writeFileSync(join(dir, "agent.key"), stray.key, { mode: 0o600 });
    const r = await runDaemon(["agent", "--master", "127.0.0.1:1", "--tls-dir", dir], {
      YARD_HOME: join(home, "c"),
    });
    assert.notEqual(r.code, 0);
    assert.match(r.output, /agent\.crt was not issued by the CA next to it/);
  });
});
