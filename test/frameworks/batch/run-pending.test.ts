// `yardctl run` of a job no agent can hold: it says why while it waits (the batch framework's
// reason through the master, OperatorService.Explain) instead of hanging in silence, and a
// Ctrl-C kills the job and exits 130 without complaining about logs that never existed.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { TestCluster, waitFor, YARDCTL } from "../../cluster/harness.js";
import { tlsEnv } from "../../tls-fixture.js";

const cluster = new TestCluster();
let batch: ChildProcess | undefined;

before(async () => {
  await cluster.startMaster();
  await cluster.startAgent({ cpus: 1, mem: 512 });
  await cluster.waitForAgents(1);
  const home = path.join(cluster.root, "batch-home");
  batch = spawn(process.execPath, [YARDCTL, "batch", "--master", cluster.masterAddress, "--data-dir", home], {
    env: { ...process.env, ...tlsEnv(), YARD_HOME: home, YARD_TOKEN: cluster.token, YARD_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor("the batch framework", async () =>
    (await cluster.getFrameworks()).find((f) => f.info?.name === "batch" && f.status === "CONNECTED"),
  );
});

after(async () => {
  if (batch && batch.exitCode === null) {
    const exited = new Promise((r) => batch!.once("exit", r));
    batch.kill("SIGKILL");
    await exited;
  }
  await cluster.stop();
});

describe("yardctl run, waiting", () => {
  test("--cpus 100 prints why it waits; Ctrl-C kills the job and exits 130", async () => {
    const run = spawn(process.execPath, [YARDCTL, "run", "--cpus", "100", "--", "echo", "hi"], {
      env: { ...process.env, ...tlsEnv(), YARD_MASTER: cluster.masterAddress, YARD_TOKEN: cluster.token },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    run.stdout!.on("data", (b) => (stdout += b));
    run.stderr!.on("data", (b) => (stderr += b));
    const exited = new Promise<number | null>((r) => run.once("close", (code) => r(code)));
    try {
      const jobId = await waitFor(
        "run to say why the job waits",
        () =>
          /^yardctl: 1 task\(s\) of job (\S+) wait to be placed: insufficient_cpus: needs 100 cpus; the largest offer had 1$/m.exec(
            stderr,
          )?.[1],
        60_000,
      );
      // The same reason, with the master's half, through explain.
      const e = await cluster.yardctl(["explain", `job/${jobId}`]);
      assert.equal(e.code, 0, e.stderr);
      assert.match(
        e.stdout,
        /^ {2}insufficient_cpus \(\d+ offers?\): needs 100 cpus; the largest offer had 1$/m,
      );
      assert.match(e.stdout, /^master: framework \S+ \(batch\) wants offers/m);
      run.kill("SIGINT");
      assert.equal(await exited, 130, stderr);
      assert.match(stderr, new RegExp(`killing job ${jobId}`));
      assert.doesNotMatch(stderr, /cannot read/);
      assert.equal(stdout, "");
    } finally {
      if (run.exitCode === null) run.kill("SIGKILL");
    }
  });
});
