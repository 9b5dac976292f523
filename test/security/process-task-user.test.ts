// Hole 4 of the security review: a process task ran as root and read the cluster token and the
// master's data dir through its sandbox path (`cat $YARD_SANDBOX/../../../token`). The attack,
// performed against `yardctl up` (master, agent, frameworks in one process, whose environment
// carries YARD_TOKEN), must now fail: the task runs as the unprivileged task user with no
// supplementary groups, owns its sandbox, cannot read the agent's checkpoint, the token or the
// master's registry, and does not inherit the token. A framework asking for root, or for a user
// the host lacks, gets TASK_FAILED naming the user.
import assert from "node:assert/strict";
import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { taskName } from "../../agent/agent-task.js";
import { silentLogger } from "../../common/logger.js";
import {
  type Offer,
  SchedulerDriver,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { startAgent } from "../../agent/agent-daemon.js";
import { shellTask } from "../agent/helpers.js";
import { TestMaster } from "../agent/test-master.js";
import { startYardctlUp } from "../cli/yardctl-up.js";
import { waitFor } from "../cluster/harness.js";
import { loadTlsMaterial } from "../../common/tls.js";
import { tlsOf } from "../tls-fixture.js";

const YARDCTL = fileURLToPath(new URL("../../cli/yardctl.js", import.meta.url));
const TOKEN = "c0ffee".repeat(8);
const isRoot = process.getuid?.() === 0;
/** Only root can switch users. Outside CI a non-root run skips, saying why; under CI it fails. */
const rootSkip: string | false =
  !isRoot && process.env.CI !== "true" ? "needs root to run tasks as another user" : false;

describe("process tasks run unprivileged (yardctl up as root)", { skip: rootSkip, timeout: 120_000 }, () => {
  let home: string;
  let up: ChildProcess | undefined;
  let upExit: Promise<number | null>;
  let master = "";
  const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? "", HOME: home, YARD_HOME: home });
  const drivers: SchedulerDriver[] = [];

  before(async () => {
    assert.ok(isRoot, "these tests need root (they run under CI as root)");
    home = mkdtempSync(join(tmpdir(), "yard-task-user-"));
    // A token file an operator left readable: up closes it even though the token comes from the env.
    writeFileSync(join(home, "token"), `${TOKEN}\n`, { mode: 0o644 });
    const started = await startYardctlUp(
      ["--port", "0", "--http-port", "0"],
      { ...env(), YARD_TOKEN: TOKEN, YARD_LOG_LEVEL: "warn" },
      60_000,
    );
    up = started.child;
    upExit = started.exit;
    const out = started.out;
    master = /YARD_MASTER=(\S+)/.exec(out)?.[1] ?? "";
    assert.match(master, /^127\.0\.0\.1:\d+$/, out);
  });

  after(async () => {
    for (const d of drivers) await d.stop().catch(() => undefined);
    if (up && up.exitCode === null && up.pid) {
      up.kill("SIGINT"); // up kills its tasks on the way out
      await upExit;
    }
    if (home) rmSync(home, { recursive: true, force: true });
  });

  const yardctl = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(
        process.execPath,
        [YARDCTL, ...args],
        { env: { ...env(), YARD_MASTER: master }, timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
    });

  test("the sandbox escape of the review: uid, groups, reads and env", async () => {
    const taskUid = Number(execFileSync("id", ["-u", "yard-task"], { encoding: "utf8" }).trim());
    const taskGid = Number(execFileSync("id", ["-g", "yard-task"], { encoding: "utf8" }).trim());
    // What the attack reads, relative to the sandbox (<home>/agent/sandboxes/<task>).
    const targets = {
      checkpoint: "../../agent.db",
      token: "../../../token",
      registry: "../../../master/master.db",
    };
    for (const rel of Object.values(targets)) {
      assert.ok(
        existsSync(join(home, "agent", "sandboxes", "t", rel)),
        `${rel} exists: the reads below would find it`,
      );
    }
    const probe = [
      'echo "uid=$(id -u)"',
      'echo "groups=$(id -G)"',
      ...Object.entries(targets).map(
        ([name, rel]) =>
          `if err=$(cat "$YARD_SANDBOX/${rel}" 2>&1 >/dev/null); then echo "${name}=READ"; else echo "${name}=$err"; fi`,
      ),
      `if err=$(ls "$YARD_SANDBOX/../.." 2>&1 >/dev/null); then echo "listing=READ"; else echo "listing=$err"; fi`,
      // The positive control: the same ../ path reaches what the task may see, its own sandbox.
      // (Sandboxes are named <framework id>_<task id>.)
      'test -e "$YARD_SANDBOX/../$YARD_FRAMEWORK_ID""_$YARD_TASK_ID/stdout" && echo "own=reachable"',
      'echo "own-write=$(echo x > "$YARD_SANDBOX/mine" && echo ok)"',
      'env | sed "s/^/env:/"',
    ].join("\n");
    const r = await yardctl(["run", "--", "sh", "-c", probe]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split("\n");
    const value = (key: string) => lines.find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

    assert.equal(value("uid"), String(taskUid), r.stdout);
    assert.notEqual(taskUid, 0);
    assert.equal(value("groups"), String(taskGid), "no supplementary groups (root's are dropped)");
    for (const name of [...Object.keys(targets), "listing"]) {
      assert.match(value(name) ?? "", /Permission denied/, `${name}: ${r.stdout}`);
    }
    assert.equal(value("own"), "reachable", r.stdout);
    assert.equal(value("own-write"), "ok", r.stdout);

    const envLines = lines.filter((l) => l.startsWith("env:"));
    assert.ok(
      envLines.some((l) => l.startsWith("env:YARD_SANDBOX=")),
      r.stdout,
    );
    assert.ok(!envLines.some((l) => l.startsWith("env:YARD_TOKEN=")), "YARD_TOKEN is not inherited");
    assert.ok(!r.stdout.includes(TOKEN), "the token appears nowhere in the task's environment");

    const sandboxes = join(home, "agent", "sandboxes");
    const [task] = readdirSync(sandboxes);
    const st = statSync(join(sandboxes, task));
    assert.equal(st.uid, taskUid, "the sandbox belongs to the task user");
    assert.equal(st.mode & 0o777, 0o750);
    assert.equal(statSync(join(sandboxes, task, "mine")).uid, taskUid);
    assert.equal(statSync(join(home, "token")).mode & 0o777, 0o600, "up closed the token file");
    assert.equal(statSync(join(home, "master")).mode & 0o777, 0o700);
    assert.equal(statSync(join(home, "agent", "agent.db")).mode & 0o777, 0o600);
  });

  test("a task that swaps its log file for a link cannot make the agent ship the checkpoint as its logs", async () => {
    const r = await yardctl(["run", "--", "sh", "-c", "echo before; rm stdout; ln -s ../../agent.db stdout"]);
    assert.equal(r.code, 0, r.stderr);
    // What `run` printed depends on when it read the log, before or after the swap: not checked.
    const tasks = JSON.parse((await yardctl(["get", "tasks", "--all", "-o", "json"])).stdout).tasks as {
      info: { taskId: string };
      frameworkId: string;
    }[];
    const taskId = tasks
      .filter((t) => {
        const out = join(home, "agent", "sandboxes", taskName(t.frameworkId, t.info.taskId), "stdout");
        return existsSync(out) && lstatSync(out).isSymbolicLink();
      })
      .map((t) => t.info.taskId)[0];
    assert.ok(taskId, "the task left its stdout as a link");
    // Followed, the link would give the checkpoint, a SQLite file.
    assert.match(readFileSync(join(home, "agent", "agent.db"), "latin1"), /^SQLite format 3/);
    const logs = await yardctl(["logs", taskId]);
    assert.notEqual(logs.code, 0, logs.stdout);
    assert.doesNotMatch(logs.stdout, /SQLite/);
    assert.match(logs.stderr, /not a regular file/);
  });

  /** Subscribes a framework with `user`, launches one task and returns its terminal status. */
  async function launchAs(user: string, taskId: string): Promise<TaskStatus> {
    const offers: Offer[] = [];
    const updates: TaskStatus[] = [];
    const driver = new SchedulerDriver({
      // up made its own CA in its data dir: its service framework's certificate is one of it.
      tls: loadTlsMaterial({ dir: join(home, "tls"), name: "service" }),
      master,
      token: TOKEN,
      framework: { name: `as-${taskId}`, user },
      logger: silentLogger,
    });
    drivers.push(driver);
    driver.on("offers", (e) => {
      offers.push(...e.offers);
    });
    driver.on("update", (e) => {
      updates.push(e.status);
    });
    await driver.start();
    const offer = await waitFor("an offer", () => offers.shift(), 60_000);
    await driver.launch(offer, [taskInfo({ taskId, command: "id -u", cpus: 0.1, mem: 16 })]);
    const end = await waitFor(
      `the end of ${taskId}`,
      () =>
        updates.find(
          (u) =>
            u.taskId === taskId &&
            u.state !== TaskState.TASK_STAGING &&
            u.state !== TaskState.TASK_STARTING &&
            u.state !== TaskState.TASK_RUNNING,
        ),
      60_000,
    );
    await driver.teardown();
    return end;
  }

  test("a framework whose user is root gets TASK_FAILED naming the user, unless the agent allows root", async () => {
    const end = await launchAs("root", "as-root");
    assert.equal(end.state, TaskState.TASK_FAILED);
    assert.match(end.message, /task user "root": has uid 0.*--allow-root-tasks/);
  });

  test("a framework whose user the host lacks gets TASK_FAILED naming the user", async () => {
    const end = await launchAs("no-such-user-here", "as-nobody");
    assert.equal(end.state, TaskState.TASK_FAILED);
    assert.match(end.message, /task user "no-such-user-here": no such user/);
  });
});

describe("an agent started with --allow-root-tasks", { skip: rootSkip, timeout: 60_000 }, () => {
  test("runs a task as root when its framework asks for root, and as the task user otherwise", async () => {
    const master = new TestMaster();
    await master.start();
    const dataDir = mkdtempSync(join(tmpdir(), "yard-root-tasks-"));
    const agent = await startAgent({
      ...tlsOf("agent"),
      master: master.address,
      dataDir,
      allowRootTasks: true,
      logger: silentLogger,
    });
    try {
      const s = await master.waitStreams(1);
      s.call.write({ runTask: { user: "root", frameworkId: "fw", task: shellTask("as-root", "id -u") } });
      s.call.write({ runTask: { user: "", frameworkId: "fw", task: shellTask("as-default", "id -u") } });
      for (const id of ["as-root", "as-default"]) {
        await waitFor(`${id} to finish`, () =>
          master
            .all("status")
            .find((m) => m.status?.taskId === id && m.status.state === TaskState.TASK_FINISHED),
        );
      }
      const out = (id: string) =>
        readFileSync(join(dataDir, "sandboxes", taskName("fw", id), "stdout"), "utf8");
      assert.equal(out("as-root"), "0\n");
      assert.equal(
        out("as-default"),
        `${execFileSync("id", ["-u", "yard-task"], { encoding: "utf8" }).trim()}\n`,
      );
    } finally {
      await agent.stop({ killTasks: true });
      await master.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
