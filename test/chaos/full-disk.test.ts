// Defect 5: a full disk must not turn an agent into a black hole. Real processes: a master and
// two agents; agent 0 keeps its data dir (checkpoint, release cache, sandboxes) on a 32 MiB
// tmpfs, agent 1 on the ordinary disk. The invariants: a release that cannot fit fails at once
// and leaves no partial file; on a full disk a kill still kills and KILLED reaches the master,
// an exit is still reported, a launch ends in a terminal status with its reason (never
// STAGING), the agent is shown under disk pressure and gets no offers while the other agent
// does; once the filler is deleted the agent recovers by itself and takes launches again.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import {
  type Offer,
  SchedulerDriver,
  type TaskStatus,
  TaskState,
  isTerminal,
  taskInfo,
} from "../../framework-sdk/index.js";
import { killProcessesUnder, TestCluster, waitFor } from "../cluster/harness.js";
import { SmallDisk } from "./disk-helpers.js";
import { clusterDispatcher } from "../../common/cluster-fetch.js";
import { tlsMaterial, tlsOf } from "../tls-fixture.js";
import { taskName } from "../../agent/agent-task.js";

const MiB = 1024 * 1024;

interface Wanted {
  taskId: string;
  command: string;
  agentId?: string;
  release?: string;
}

/** Launches what it is asked to, where it is asked to; can hold one offer of an agent unused. */
class DiskFramework {
  readonly driver: SchedulerDriver;
  readonly latest = new Map<string, TaskStatus>();
  /** Every offer received, in order. */
  readonly offers: { agentId: string; id: string }[] = [];
  private readonly wanted: Wanted[] = [];
  private holdAgent?: string;
  held?: Offer;

  constructor(master: string, token: string) {
    this.driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token,
      framework: { name: "disk-test", role: "*" },
    });
    this.driver.on("offers", async ({ offers }) => {
      for (const offer of offers) {
        this.offers.push({ agentId: offer.agentId, id: offer.id });
        if (offer.agentId === this.holdAgent && !this.held) {
          this.held = offer;
          continue;
        }
        const w = this.wanted.find((x) => !x.agentId || x.agentId === offer.agentId);
        try {
          if (!w) {
            await this.driver.decline([offer.id], { refuseSeconds: 0.2 });
            continue;
          }
          this.wanted.splice(this.wanted.indexOf(w), 1);
          await this.driver.launch(offer, [this.info(w)], { refuseSeconds: 0.2 });
        } catch {
          if (w) this.wanted.push(w);
        }
      }
    });
    this.driver.on("rescind", ({ offerId }) => {
      if (this.held?.id === offerId) this.held = undefined;
    });
    this.driver.on("update", ({ status }) => {
      this.latest.set(status.taskId, status);
    });
  }

  private info(w: Wanted) {
    return taskInfo({
      taskId: w.taskId,
      command: w.command,
      cpus: 0.1,
      mem: 16,
      release: w.release,
      killGraceSeconds: 1,
    });
  }

  run(w: Wanted): void {
    this.wanted.push(w);
    this.driver.revive().catch(() => undefined);
  }

  /** Keeps the next offer of `agentId` instead of using or declining it. */
  async holdOfferOf(agentId: string): Promise<Offer> {
    this.holdAgent = agentId;
    return waitFor(`an offer of ${agentId} to hold`, () => this.held);
  }

  launchOnHeld(w: Wanted): Promise<string[]> {
    const offer = this.held!;
    this.held = undefined;
    this.holdAgent = undefined;
    return this.driver.launch(offer, [this.info(w)], { refuseSeconds: 0.2 });
  }

  waitFor(
    taskId: string,
    ok: (s: TaskStatus) => boolean,
    what: string,
    timeoutMs = 20_000,
  ): Promise<TaskStatus> {
    return waitFor(
      `task ${taskId} ${what}`,
      () => {
        const s = this.latest.get(taskId);
        return s && ok(s) ? s : undefined;
      },
      timeoutMs,
    );
  }
}

/** Pids of the processes whose working dir is `dir` or below. */
function processesIn(dir: string): number[] {
  const out: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/cwd`).startsWith(dir)) out.push(Number(pid));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe("full disk on an agent (defect 5)", { timeout: 120_000 }, () => {
  const cluster = new TestCluster();
  // The harness gives agent i the home <root>/agent-<i>; the agent keeps its data in <home>/agent.
  const disk = new SmallDisk(join(cluster.root, "agent-0"), 32);
  const agentData = join(disk.dir, "agent");
  const go = join(cluster.root, "go");
  let framework: DiskFramework | undefined;
  let small = "";
  let other = "";

  /** Updates the agent's checkpoint still holds unacknowledged (read beside the agent, read-only). */
  const pendingUpdates = () => {
    const db = new Database(join(agentData, "agent.db"), { readonly: true });
    try {
      return (db.prepare("SELECT COUNT(*) AS n FROM updates").get() as { n: number }).n;
    } finally {
      db.close();
    }
  };
  const metrics = async () => {
    const { httpPort } = JSON.parse(
      fs.readFileSync(join(cluster.root, "master-home", "master", "master.json"), "utf8"),
    );
    return (
      await fetch(`https://127.0.0.1:${httpPort}/metrics`, {
        headers: { authorization: `Bearer ${cluster.token}` },
        dispatcher: await clusterDispatcher(tlsMaterial("admin")),
      } as RequestInit)
    ).text();
  };
  const masterTask = async (taskId: string) =>
    (await cluster.getTasks(true)).find((t) => t.info?.taskId === taskId);
  const agentState = async (id: string) => (await cluster.getAgents()).find((a) => a.info?.id === id);

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent({ cpus: 2, mem: 1024 });
    await cluster.startAgent({ cpus: 2, mem: 1024 });
    const agents = await cluster.waitForAgents(2);
    small = agents.find((a) => a.info?.hostname === "host-0")!.info!.id;
    other = agents.find((a) => a.info?.hostname === "host-1")!.info!.id;
    framework = new DiskFramework(cluster.masterAddress, cluster.token);
    await framework.driver.start();
  });

  after(async () => {
    await framework?.driver.stop().catch(() => undefined);
    for (const a of cluster.agents) await cluster.kill(a);
    killProcessesUnder(cluster.root);
    disk.unmount();
    await cluster.stop();
  });

  test("two tasks run on the agent with the small disk", async () => {
    const fw = framework!;
    fw.run({ taskId: "victim", command: "sleep 600", agentId: small });
    fw.run({ taskId: "waiter", command: `while [ ! -e ${go} ]; do sleep 0.1; done`, agentId: small });
    for (const id of ["victim", "waiter"]) {
      await fw.waitFor(id, (s) => s.state === TaskState.TASK_RUNNING, "to run");
    }
  });

  test("a release bigger than the disk fails at once, naming need and free space; no partial file", async () => {
    const file = join(cluster.root, "big.bin");
    fs.writeFileSync(file, randomBytes(48 * MiB));
    const push = await cluster.yardctl(["release", "push", "big@1.0", file]);
    assert.equal(push.code, 0, push.stderr);
    const stage = await cluster.yardctl(["release", "stage", "big@1.0", "--agent", small, "-w"], 60_000);
    assert.equal(stage.code, 1, stage.stdout + stage.stderr);
    assert.match(
      stage.stderr,
      /staging big@1\.0 failed on .*not enough disk space for release big@1\.0: needs 48\.0 MiB plus a reserve of 1\.6 MiB, has \d+\.\d MiB free/,
    );
    // A launch with it ends terminal with the reason, never STAGING.
    framework!.run({ taskId: "big-user", command: "true", agentId: small, release: "big@1.0" });
    const s = await framework!.waitFor("big-user", (x) => isTerminal(x.state), "to end");
    assert.equal(s.state, TaskState.TASK_FAILED);
    assert.equal(s.reason, "REASON_INSUFFICIENT_DISK");
    assert.match(s.message, /not enough disk space for release big@1\.0: needs 48\.0 MiB/);
    assert.deepEqual(fs.readdirSync(join(agentData, "cache")), [], "no partial file in the cache");
    assert.ok(disk.freeBytes() > 24 * MiB, `free ${disk.freeBytes()}`);
  });

  test("on a full disk, a launch that reaches the agent ends TASK_FAILED with REASON_DISK_PRESSURE", async () => {
    const fw = framework!;
    await fw.holdOfferOf(small);
    // Nothing may be left for the agent to write before the launch: its last ack is in.
    await waitFor("the agent's updates to be acknowledged", () => pendingUpdates() === 0);
    disk.fill();
    assert.ok(disk.freeBytes() < 4096, `free ${disk.freeBytes()}`);
    await fw.launchOnHeld({ taskId: "refused", command: "sleep 600" });
    const s = await fw.waitFor("refused", (x) => x.state !== TaskState.TASK_STAGING, "to leave STAGING");
    assert.equal(s.state, TaskState.TASK_FAILED);
    assert.equal(s.reason, "REASON_DISK_PRESSURE");
    assert.match(s.message, /disk pressure|cannot record the task/);
    assert.equal((await masterTask("refused"))?.status?.state, TaskState.TASK_FAILED);
  });

  test("get agents shows the pressure, with its message in JSON", async () => {
    await waitFor(
      "the master to show disk pressure",
      async () => (await agentState(small))?.conditions?.diskPressure,
    );
    const table = await cluster.yardctl(["get", "agents"]);
    assert.equal(table.code, 0, table.stderr);
    const row = table.stdout.split("\n").find((l) => l.includes("host-0"));
    assert.match(row ?? "", /\sACTIVE\s+DiskPressure\s/);
    const json = await cluster.yardctl(["get", "agents", "-o", "json"]);
    const a = JSON.parse(json.stdout).agents.find((x: { info: { id: string } }) => x.info.id === small);
    assert.equal(a.conditions.diskPressure, true);
    // Whichever noticed it last names the cause: the failed checkpoint write, or the periodic
    // free-space check (which wins on a loaded machine, where it runs after the write failed).
    assert.match(
      a.conditions.message,
      /database or disk is full|free on the agent's disk, below its reserve/,
    );
    assert.match(await metrics(), /^yard_agents_disk_pressure 1$/m);
  });

  test("a kill still kills the process, and KILLED reaches the master", async () => {
    const sandbox = join(agentData, "sandboxes", taskName(framework!.driver.frameworkId!, "victim"));
    assert.ok(processesIn(sandbox).length > 0, "the victim runs");
    await framework!.driver.kill("victim");
    await framework!.waitFor("victim", (s) => s.state === TaskState.TASK_KILLED, "to be KILLED");
    assert.equal((await masterTask("victim"))?.status?.state, TaskState.TASK_KILLED);
    await waitFor("the victim's processes to be gone", () => processesIn(sandbox).length === 0);
  });

  test("a task that exits is reported", async () => {
    fs.writeFileSync(go, "");
    const s = await framework!.waitFor("waiter", (x) => isTerminal(x.state), "to end");
    assert.equal(s.state, TaskState.TASK_FINISHED);
    assert.equal((await masterTask("waiter"))?.status?.state, TaskState.TASK_FINISHED);
  });

  test("no offers of the agent under pressure; launches land on the other agent", async () => {
    const fw = framework!;
    // Offers reach the framework in order: once an offer made after the pressure was known
    // arrives, any offer of the small agent made before it has arrived too.
    const mark = fw.offers.length;
    fw.run({ taskId: "elsewhere", command: "sleep 600" });
    const s = await fw.waitFor("elsewhere", (x) => x.state === TaskState.TASK_RUNNING, "to run");
    assert.equal(s.agentId, other);
    const firstAfter = await waitFor("two offers of the other agent", () => {
      const later = fw.offers.slice(mark).filter((o) => o.agentId === other);
      return later.length >= 2 && fw.offers.indexOf(later[1]!);
    });
    await waitFor("one more offer of the other agent", () =>
      fw.offers.slice(firstAfter + 1).some((o) => o.agentId === other),
    );
    assert.deepEqual(
      fw.offers.slice(firstAfter).filter((o) => o.agentId === small),
      [],
      "the small agent was offered while under disk pressure",
    );
    assert.equal((await agentState(small))?.conditions?.diskPressure, true);
  });

  test("the filler goes: the agent recovers by itself, is offered again and runs launches", async () => {
    disk.free();
    await waitFor(
      "the disk pressure to clear",
      async () => (await agentState(small))?.conditions?.diskPressure === false,
      30_000,
    );
    const fw = framework!;
    fw.run({ taskId: "after", command: "sleep 600", agentId: small });
    const s = await fw.waitFor("after", (x) => x.state === TaskState.TASK_RUNNING, "to run");
    assert.equal(s.agentId, small);
    // What was held in memory went into the checkpoint, acks included: the tasks that ended
    // under pressure have left it, as they would have without the fault.
    const db = new Database(join(agentData, "agent.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT task_id FROM tasks ORDER BY task_id").all() as { task_id: string }[];
      assert.deepEqual(
        rows.map((r) => r.task_id),
        ["after"],
      );
    } finally {
      db.close();
    }
    const table = await cluster.yardctl(["get", "agents"]);
    assert.match(table.stdout.split("\n").find((l) => l.includes("host-0")) ?? "", /\sACTIVE\s+-\s/);
    assert.match(await metrics(), /^yard_agents_disk_pressure 0$/m);
  });
});
