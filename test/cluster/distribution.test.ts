// Release distribution end to end, with real processes on 127.0.0.1: a master (release store,
// tracker, seeder) and four agents (fetchers), driven through yardctl and a framework. A 20 MiB
// release is pushed once and staged on every agent; the agents trade pieces among themselves;
// a corrupted cache file is caught and fetched again; tasks get their release in the sandbox.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { SchedulerDriver, type TaskStatus, takeTasks, taskInfo } from "../../framework-sdk/index.js";
import { TaskState } from "../../common/task-states.js";
import { TestCluster, waitFor } from "./harness.js";
import { tlsOf } from "../tls-fixture.js";

const SIZE = 20 * 1024 * 1024;
const AGENTS = 4;
/** The master's seed is capped so that the agents have to feed each other to finish soon. */
const SEED_LIMIT = "8M";
/** SEED_LIMIT in bytes per second, rounded up (8 MiB): the most the seed can have sent. */
const SEED_BYTES_PER_S = 8 * 1024 * 1024;

interface AgentFetchJson {
  agentId: string;
  state: string;
  uploaded?: number | string;
  downloaded?: number | string;
}

function sha256File(path: string): string {
  return createHash("sha256").update(fs.readFileSync(path)).digest("hex");
}

/** A framework that launches each wanted task (with its release) on the agent it names. */
class ReleaseFramework {
  readonly driver: SchedulerDriver;
  private readonly wanted: { taskId: string; agentId: string; command: string; release: string }[] = [];
  readonly latest = new Map<string, TaskStatus>();

  constructor(master: string, token: string) {
    this.driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token,
      framework: { name: "release-test", role: "*" },
    });
    this.driver.on("offers", async ({ offers }) => {
      for (const offer of offers) {
        const mine = this.wanted.filter((w) => w.agentId === offer.agentId);
        const placed = takeTasks(
          offer,
          mine.map(() => ({ cpus: 0.1, mem: 32 })),
        ).placed;
        const tasks = placed.map((p) => {
          const w = mine[p.index]!;
          return taskInfo({
            taskId: w.taskId,
            command: w.command,
            cpus: p.resources.cpus,
            mem: p.resources.mem,
            release: w.release,
            killGraceSeconds: 1,
          });
        });
        try {
          if (tasks.length > 0) {
            for (const t of tasks)
              this.wanted.splice(
                this.wanted.findIndex((w) => w.taskId === t.taskId),
                1,
              );
            await this.driver.launch(offer, tasks, { refuseSeconds: 0.2 });
          } else {
            await this.driver.decline([offer.id], { refuseSeconds: 0.5 });
          }
        } catch {
          // The offer went away meanwhile: ask again with the next one.
          for (const t of tasks)
            this.wanted.push({
              taskId: t.taskId,
              agentId: offer.agentId,
              command: t.command!.value,
              release: t.release,
            });
        }
      }
    });
    this.driver.on("update", ({ status }) => {
      this.latest.set(status.taskId, status);
    });
  }

  run(taskId: string, agentId: string, release: string, command: string): void {
    this.wanted.push({ taskId, agentId, release, command });
    this.driver.revive().catch(() => undefined);
  }

  waitForEnd(taskId: string, timeoutMs = 30_000): Promise<TaskStatus> {
    return waitFor(
      `task ${taskId} to end`,
      () => {
        const s = this.latest.get(taskId);
        return s &&
          s.state !== TaskState.TASK_STAGING &&
          s.state !== TaskState.TASK_STARTING &&
          s.state !== TaskState.TASK_RUNNING
          ? s
          : undefined;
      },
      timeoutMs,
    );
  }
}

describe("release distribution (master, 4 agents)", { timeout: 120_000 }, () => {
  const cluster = new TestCluster(["--seed-upload-limit", SEED_LIMIT]);
  const work = fs.mkdtempSync(join(cluster.root, "work-"));
  const bigFile = join(work, "big.bin");
  const cacheDirs = Array.from({ length: AGENTS }, (_, i) => join(cluster.root, `cache-${i}`));
  let bigSha = "";
  let agentIds: string[] = [];
  let framework: ReleaseFramework | undefined;

  const cachedFile = (i: number) => join(cacheDirs[i]!, "big@1.0", "data", "big.bin");

  async function status(release: string): Promise<{ seeded?: boolean; agents?: AgentFetchJson[] }> {
    const r = await cluster.yardctl(["release", "status", release, "-o", "json"]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  before(async () => {
    fs.writeFileSync(bigFile, randomBytes(SIZE));
    bigSha = sha256File(bigFile);
    await cluster.startMaster();
    for (let i = 0; i < AGENTS; i++) {
      await cluster.startAgent({
        cpus: 2,
        mem: 1024,
        extraArgs: ["--peer-host", "127.0.0.1", "--peer-port", "0", "--cache-dir", cacheDirs[i]!],
      });
    }
    const agents = await cluster.waitForAgents(AGENTS);
    // Agent i is the one started with the i-th data dir (host-i).
    agentIds = Array.from(
      { length: AGENTS },
      (_, i) => agents.find((a) => a.info?.hostname === `host-${i}`)!.info!.id,
    );
  });

  after(async () => {
    await framework?.driver.stop();
    await cluster.stop();
  });

  test("a 20 MiB release is pushed once and seeded by the master", async () => {
    const push = await cluster.yardctl(["release", "push", "big@1.0", bigFile]);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stdout, new RegExp(`pushed big@1.0: .*sha256 ${bigSha}`));
    const again = await cluster.yardctl(["release", "push", "big@1.0", bigFile]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /unchanged/);
    const s = await status("big@1.0");
    assert.equal(s.seeded, true);
    assert.deepEqual(s.agents ?? [], []);
  });

  test("staging brings it to every agent, the agents feed each other, every copy matches", async (t) => {
    const started = Date.now();
    const stage = await cluster.yardctl(["release", "stage", "big@1.0", "--watch"], 60_000);
    assert.equal(stage.code, 0, `${stage.stdout}\n${stage.stderr}`);
    assert.match(stage.stdout, /big@1.0: 4\/4 agents hold it \(complete\)/);
    const seconds = (Date.now() - started) / 1000;
    for (let i = 0; i < AGENTS; i++) assert.equal(sha256File(cachedFile(i)), bigSha, `agent ${i}'s copy`);

    // The seed sends at most SEED_LIMIT, so what it did not send of the 4 × 20 MiB that
    // arrived the agents sent each other: their own upload counters (reported every few
    // seconds while they seed, so they arrive late on a loaded machine) must come to that.
    // The bound follows from the staging time measured, so a slow run asks for less.
    const fromPeers = AGENTS * SIZE - SEED_BYTES_PER_S * (seconds + 2);
    const counters = await waitFor(
      `the agents' upload counters to reach ${fromPeers} bytes`,
      async () => {
        const agents = (await status("big@1.0")).agents ?? [];
        const up = agents.map((a) => Number(a.uploaded ?? 0));
        return up.reduce((x, y) => x + y, 0) >= fromPeers && up.some((u) => u >= 1024 * 1024) && up;
      },
      60_000,
      250,
    ).catch(async (err) => {
      throw new Error(`${err}; last status: ${JSON.stringify(await status("big@1.0"))}`);
    });
    const feeders = counters.filter((u) => u >= 1024 * 1024).length;
    assert.ok(feeders >= 1, `no agent uploaded 1 MiB to its peers: ${counters}`);
    const s = await status("big@1.0");
    assert.deepEqual(
      (s.agents ?? []).map((a) => a.state),
      agentIds.map(() => "DONE"),
    );
    t.diagnostic(`staged in ${seconds.toFixed(1)} s; agents uploaded ${counters.join(", ")} bytes`);
  });

  test("a task with a release runs with the artifact unpacked in its sandbox", async () => {
    const tree = join(work, "site");
    fs.mkdirSync(join(tree, "conf"), { recursive: true });
    fs.writeFileSync(join(tree, "index.html"), "hello from a release\n");
    fs.writeFileSync(join(tree, "conf", "app.conf"), "port=8080\n");
    const push = await cluster.yardctl(["release", "push", "site@1.0", tree]);
    assert.equal(push.code, 0, push.stderr);

    framework = new ReleaseFramework(cluster.masterAddress, cluster.token);
    await framework.driver.start();
    // Not staged before: the agent fetches it before it launches the task.
    framework.run(
      "site-task",
      agentIds[0]!,
      "site@1.0",
      'test "$(cat index.html)" = "hello from a release" && grep -qx port=8080 conf/app.conf',
    );
    const end = await framework.waitForEnd("site-task");
    assert.equal(end.state, TaskState.TASK_FINISHED, `${end.reason}: ${end.message}`);
  });

  test("a corrupted cache file is detected at agent start and fetched again", async () => {
    const victim = 3;
    await cluster.kill(cluster.agents[victim], "SIGKILL");
    const fd = fs.openSync(cachedFile(victim), "r+");
    const block = Buffer.alloc(64 * 1024);
    fs.readSync(fd, block, 0, block.length, 5 * 1024 * 1024 + 1000);
    for (let i = 0; i < block.length; i++) block[i]! ^= 0xff;
    fs.writeSync(fd, block, 0, block.length, 5 * 1024 * 1024 + 1000);
    fs.closeSync(fd);
    assert.notEqual(sha256File(cachedFile(victim)), bigSha);

    await cluster.restartAgent(victim);
    const restarted = cluster.agents[victim]!;
    await waitFor(
      "the agent to find its copy damaged",
      () => restarted.output.join("").includes("failed verification at start"),
      20_000,
    );
    const stage = await cluster.yardctl(
      ["release", "stage", "big@1.0", "--agent", agentIds[victim]!, "--watch"],
      60_000,
    );
    assert.equal(stage.code, 0, `${stage.stdout}\n${stage.stderr}`);
    assert.match(stage.stdout, /1\/1 agents hold it \(complete\)/);
    assert.equal(sha256File(cachedFile(victim)), bigSha);

    // A task that uses the release on that agent sees the right bytes in its sandbox.
    framework!.run(
      "big-task",
      agentIds[victim]!,
      "big@1.0",
      `test "$(sha256sum big.bin | cut -d' ' -f1)" = ${bigSha}`,
    );
    const end = await framework!.waitForEnd("big-task");
    assert.equal(end.state, TaskState.TASK_FINISHED, `${end.reason}: ${end.message}`);
  });
});
