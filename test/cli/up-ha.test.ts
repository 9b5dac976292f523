// yardctl up --masters 3 as a newcomer uses it: three masters on a local etcd, get masters,
// a job, then kill -9 of the leader: a standby leads with a higher term, jobs run again, and
// an `events -w` started before the kill goes on at the new leader.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { waitFor } from "../cluster/harness.js";
import { type RunningUp, startYardctlUp } from "./yardctl-up.js";

const YARDCTL = fileURLToPath(new URL("../../cli/yardctl.js", import.meta.url));

let home: string;
let up: RunningUp | undefined;
let env: Record<string, string>;
let dataDir = "";
/** Every child process up printed (masters and etcd), by name. */
const pids = new Map<string, number>();
const addresses = new Map<string, string>();

function yardctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [YARDCTL, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

interface MastersJson {
  masters: { id: string; address: string; role: string; term: string | number }[];
  leader: string;
  term: string | number;
  store: string;
}

async function masters(): Promise<MastersJson | undefined> {
  const r = await yardctl(["get", "masters", "-o", "json"]);
  return r.code === 0 ? (JSON.parse(r.stdout) as MastersJson) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  home = mkdtempSync(join(tmpdir(), "yardctl-up-ha-test-"));
  up = await startYardctlUp(
    ["--temp", "--masters", "3", "--port", "0", "--http-port", "0", "--cpus", "2", "--mem", "1024"],
    { PATH: process.env.PATH ?? "", HOME: home, YARD_HOME: home, YARD_LOG_LEVEL: "warn" },
    60_000,
  );
  for (const m of up.out.matchAll(/^\s+(master-\d|etcd)\s+(\S+)\s+\(pid (\d+)/gm)) {
    pids.set(m[1]!, Number(m[3]));
    addresses.set(m[1]!, m[2]!);
  }
  const master = /export .*YARD_MASTER=(\S+)/.exec(up.out)?.[1];
  dataDir = /export .*YARD_HOME=(\S+)/.exec(up.out)?.[1] ?? "";
  assert.ok(master, `master list in: ${up.out}`);
  env = { PATH: process.env.PATH ?? "", HOME: home, YARD_MASTER: master, YARD_HOME: dataDir };
});

after(async () => {
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGTERM");
    await up.exit;
  }
  // Whatever up could not stop (it was killed): its children, by the pids it printed.
  for (const pid of pids.values()) if (alive(pid)) process.kill(pid, "SIGKILL");
  rmSync(home, { recursive: true, force: true });
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("yardctl up --masters 3 prints three masters and an etcd, each with its pid", () => {
  assert.deepEqual([...pids.keys()].sort(), ["etcd", "master-1", "master-2", "master-3"], up?.out);
  assert.match(up!.out, /yardctl get masters/);
});

test("get masters: one leader in term 1 and two standbys, on the etcd store", async () => {
  const m = await waitFor(
    "a leader",
    async () => {
      const r = await masters();
      return r?.leader ? r : undefined;
    },
    30_000,
  );
  assert.equal(m.store, "etcd");
  assert.equal(m.masters.length, 3);
  assert.deepEqual(m.masters.map((x) => x.role).sort(), ["leader", "standby", "standby"]);
  assert.equal(Number(m.term), 1);
  assert.ok([...addresses.values()].includes(m.leader), `${m.leader} is one of up's masters`);
});

test("kill -9 of the leader: a standby leads in a higher term and jobs run again", async () => {
  const first = await yardctl(["run", "--", "echo", "before"]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /before/);

  const watcher = spawn(process.execPath, [YARDCTL, "events", "-w", "--replay"], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let watched = "";
  let watchErr = "";
  watcher.stdout.on("data", (b: Buffer) => (watched += b.toString()));
  watcher.stderr.on("data", (b: Buffer) => (watchErr += b.toString()));
  const watcherExit = new Promise<number | null>((r) => watcher.once("exit", (code) => r(code)));
  // It streams once it has printed an event of the job above (replayed).
  await waitFor("the watcher's first events", () => /TASK|task=/.test(watched) || undefined, 30_000);

  const indexes = () => [...watched.matchAll(/ #(\d+) /g)].map((m) => Number(m[1]));
  const before = (await masters())!;
  const name = [...addresses].find(([, a]) => a === before.leader)?.[0];
  assert.ok(name, `the leader ${before.leader} is one of ${[...addresses.values()]}`);
  const atKill = Math.max(...indexes());
  process.kill(pids.get(name)!, "SIGKILL");

  const next = await waitFor(
    "a new leader",
    async () => {
      const r = await masters();
      return r?.leader && r.leader !== before.leader ? r : undefined;
    },
    60_000,
  );
  assert.ok(Number(next.term) > Number(before.term), `term ${next.term} after ${before.term}`);
  // Its entry is bound to a lease of its own, which etcd expires up to a keepalive interval
  // after the election's: the list drops it within the TTL, not necessarily with the new term.
  await waitFor(
    "the dead master gone from the list",
    async () => {
      const r = await masters();
      return r && !r.masters.some((m) => m.address === before.leader) ? r : undefined;
    },
    30_000,
  );

  // The agent and the frameworks follow the new leader: a job runs end to end again.
  const again = await waitFor(
    "a job under the new leader",
    async () => {
      const r = await yardctl(["run", "--", "echo", "after"]);
      return r.code === 0 ? r : undefined;
    },
    60_000,
  );
  assert.match(again.stdout, /after/);

  // The watch went on at the new leader: it said so, and it prints the events of the job
  // run after the kill (its event indexes follow the ones it printed before).
  try {
    await waitFor(
      "the watcher's resume",
      () => /resuming at the leader after event \d+/.test(watchErr) || undefined,
      30_000,
    );
    await waitFor(
      "an event after the kill in the watch",
      () =>
        watched.split("\n").some((l) => Number(/ #(\d+) /.exec(l)?.[1]) > atKill && /TASK|task=/.test(l)) ||
        undefined,
      30_000,
    );
    const all = indexes();
    assert.equal(new Set(all).size, all.length, "no event printed twice");
    assert.equal(watcher.exitCode, null, `the watch ended: ${watchErr}`);
  } finally {
    watcher.kill("SIGTERM");
    await watcherExit;
  }
});
