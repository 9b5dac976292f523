// yardctl up as an operator uses it: a cluster on free ports, then get, run, and Ctrl-C.
import assert from "node:assert/strict";
import { type ChildProcess, execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { waitFor } from "../cluster/harness.js";
import { startYardctlUp } from "./yardctl-up.js";

const YARDCTL = fileURLToPath(new URL("../../cli/yardctl.js", import.meta.url));

let home: string;
let up: ChildProcess | undefined;
let upExit: Promise<number | null>;
let env: Record<string, string>;
let dataDir: string;

/** Runs yardctl to its end; never rejects, so that the test can assert on the exit code. */
function yardctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [YARDCTL, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Pids of live processes whose environment mentions `needle` (tasks carry YARD_SANDBOX). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), "yardctl-up-test-"));
  const started = await startYardctlUp(
    ["--temp", "--port", "0", "--http-port", "0", "--cpus", "2", "--mem", "1024"],
    { PATH: process.env.PATH ?? "", HOME: home, YARD_HOME: home, YARD_LOG_LEVEL: "warn" },
    20_000,
  );
  up = started.child;
  upExit = started.exit;
  const out = started.out;
  const master = /export .*YARD_MASTER=(\S+)/.exec(out)?.[1];
  dataDir = /export .*YARD_HOME=(\S+)/.exec(out)?.[1] ?? "";
  assert.ok(master && /^127\.0\.0\.1:\d+$/.test(master), `master address in: ${out}`);
  assert.ok(dataDir.startsWith(tmpdir()), `temp data dir in: ${out}`);
  assert.match(out, /agent\s+agent-/);
  env = { PATH: process.env.PATH ?? "", HOME: home, YARD_MASTER: master, YARD_HOME: dataDir };
});

after(async () => {
  if (up && up.exitCode === null && up.pid) {
    process.kill(up.pid, "SIGKILL");
    await upExit;
  }
  rmSync(home, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("yardctl up: get agents shows its one agent, with the token from the data dir", async () => {
  const token = readFileSync(join(dataDir, "token"), "utf8").trim();
  assert.match(token, /^[0-9a-f]{48}$/);
  const table = await yardctl(["get", "agents"]);
  assert.equal(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split("\n");
  assert.match(lines[0], /^ID\s+HOSTNAME\s+STATUS\s+CONDITIONS\s+CPUS\s+MEM\s+TASKS\s+ATTRIBUTES$/);
  assert.equal(lines.length, 2, table.stdout);
  assert.match(lines[1], /^agent-\S+\s+\S+\s+ACTIVE\s+-\s+0\/2\s+0\/1024\s+0\s+-$/);

  const json = await yardctl(["get", "agents", "-o", "json"]);
  assert.equal(JSON.parse(json.stdout).agents.length, 1);

  const wrong = await yardctl(["get", "agents", "--token", "wrong"]);
  assert.equal(wrong.code, 5, wrong.stderr);
});

test("yardctl run -- echo hi prints exactly hi; a failing command gives its exit code", async () => {
  const hi = await yardctl(["run", "--", "echo", "hi"]);
  assert.equal(hi.code, 0, hi.stderr);
  assert.equal(hi.stdout, "hi\n");
  const tasks = JSON.parse((await yardctl(["get", "tasks", "--all", "-o", "json"])).stdout).tasks;
  assert.equal(tasks.length, 1);
  const logs = await yardctl(["logs", tasks[0].info.taskId]);
  assert.equal(logs.code, 0, logs.stderr);
  assert.equal(logs.stdout, "hi\n");
  const three = await yardctl(["run", "--", "sh", "-c", "echo oops >&2; exit 3"]);
  assert.equal(three.code, 3);
  assert.equal(three.stdout, "");
  assert.equal(three.stderr, "oops\n");
});

test("unknown ids: exit 4 naming the id", async () => {
  const r = await yardctl(["kill", "no-such-task"]);
  assert.equal(r.code, 4);
  assert.equal(r.stderr, 'yardctl: task "no-such-task" not found\n');
});

test("Ctrl-C stops everything: exit 0, tasks killed, temp data dir removed", async () => {
  const detached = await yardctl(["run", "--detach", "--", "sleep 300"]);
  assert.equal(detached.code, 0, detached.stderr);
  // Wait until the task runs, so that there is a process to clean up.
  await waitFor("the task to run", () => processesMentioning(dataDir).length > 0 || undefined, 30_000);
  up!.kill("SIGINT");
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((r) => {
    timer = setTimeout(() => r("timeout"), 15_000);
  });
  const code = await Promise.race([upExit, timeout]);
  clearTimeout(timer);
  assert.equal(code, 0);
  assert.deepEqual(processesMentioning(dataDir), []);
  assert.equal(existsSync(dataDir), false);
});
