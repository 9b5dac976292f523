// Issue 9, defect 4: an agent re-attaching tasks that the master was about to kill was
// offered its full resources at once, and a framework launched 0.8 cpu on top of the 0.8
// still running. Real master and agent as processes, a framework on the SDK that declines
// every offer at once (so it is offered the agent again and again) and notes, for each
// offer, whether the task being killed still runs. The task ignores SIGTERM, so it runs
// through its kill grace after the agent's return. Two ways back: a task whose kill was
// requested while its agent was unreachable, and a task declared LOST while its agent was
// gone. Invariant: no offer exceeds what the agent has free while such a task still runs.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type Offer,
  SchedulerDriver,
  silentLogger,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../framework-sdk/index.js";
import { pidsOfTask, TestCluster, waitFor } from "../cluster/harness.js";
import { Stopper } from "./partition-helpers.js";
import { tlsOf } from "../tls-fixture.js";

const AGENT_CPUS = 1;
const TASK_CPUS = 0.8;

interface SeenOffer {
  cpus: number;
  /** The agent had re-registered (or might have) when it came. */
  afterReturn: boolean;
  /** The task being killed still ran when it came. */
  doomedRunning: boolean;
}

describe("chaos: resources of a returning agent's tasks", { timeout: 120_000 }, () => {
  const cluster = new TestCluster(["--agent-timeout", "2", "--agent-gone-timeout", "4"]);
  const stopper = new Stopper();
  let driver: SchedulerDriver;
  const updates: TaskStatus[] = [];
  const offers: SeenOffer[] = [];
  let launch: { taskId: string } | undefined;
  let doomed = "";
  let returned = false;

  before(async () => {
    await cluster.startMaster();
    await cluster.startAgent({ cpus: AGENT_CPUS, mem: 1024 });
    await cluster.waitForAgents(1);
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: cluster.masterAddress,
      token: cluster.token,
      framework: { name: "overcommit-probe", failoverTimeoutSeconds: 120 },
      logger: silentLogger,
    });
    driver.on("update", ({ status }) => {
      updates.push(status);
    });
    driver.on("offers", async ({ offers: batch }) => {
      for (const offer of batch) await onOffer(offer);
    });
    await driver.start();
  });

  after(async () => {
    stopper.resumeAll();
    await driver?.stop();
    await cluster.stop();
  });

  async function onOffer(offer: Offer): Promise<void> {
    const cpus = offer.resources?.cpus ?? 0;
    offers.push({
      cpus,
      afterReturn: returned,
      doomedRunning: doomed !== "" && pidsOfTask(cluster.root, doomed).length > 0,
    });
    const want = launch;
    if (want && cpus >= TASK_CPUS) {
      launch = undefined;
      const task = taskInfo({
        taskId: want.taskId,
        // Ignores SIGTERM (the sleep inherits it): it runs through its whole kill grace.
        command: "trap '' TERM; sleep 600",
        cpus: TASK_CPUS,
        mem: 64,
        killGraceSeconds: 4,
      });
      await driver.launch(offer, [task], { refuseSeconds: 0 }).catch(() => {
        launch = want;
      });
      return;
    }
    await driver.decline([offer.id], { refuseSeconds: 0.05 }).catch(() => undefined);
  }

  function latest(taskId: string): TaskStatus | undefined {
    return updates.filter((u) => u.taskId === taskId).at(-1);
  }

  async function run(taskId: string): Promise<void> {
    launch = { taskId };
    await waitFor(`${taskId} to run`, () => latest(taskId)?.state === TaskState.TASK_RUNNING);
  }

  /** Checks the offers that came after the agent's return, while the task still ran. */
  async function checkOffersUntilItEnds(taskId: string): Promise<void> {
    const free = AGENT_CPUS - TASK_CPUS + 1e-9;
    await waitFor(
      `an offer of the returned agent while ${taskId} still runs`,
      () => offers.some((o) => o.afterReturn && o.doomedRunning),
      20_000,
      20,
    );
    await waitFor(`${taskId}'s process to end`, () => pidsOfTask(cluster.root, taskId).length === 0, 20_000);
    const during = offers.filter((o) => o.afterReturn && o.doomedRunning);
    const over = during.filter((o) => o.cpus > free);
    assert.deepEqual(
      over.map((o) => o.cpus),
      [],
      `offers beyond the ${(AGENT_CPUS - TASK_CPUS).toFixed(1)} cpu free while ${taskId} ran (of ${during.length})`,
    );
    // Once its end is reported, its resources are offered again.
    await waitFor(
      "the whole agent to be offered again",
      () => offers.some((o) => o.afterReturn && !o.doomedRunning && o.cpus >= AGENT_CPUS - 1e-9),
      20_000,
      20,
    );
  }

  test("a task whose kill was requested while its agent was unreachable", async () => {
    await run("asked-to-die");
    const agent = cluster.agents[0];
    stopper.stop(agent);
    try {
      await waitFor(
        "the task to be unreachable",
        () => latest("asked-to-die")?.state === TaskState.TASK_UNREACHABLE,
      );
      // The master cannot reach the agent: the kill waits for its return.
      await driver.kill("asked-to-die");
      doomed = "asked-to-die";
      returned = true;
    } finally {
      stopper.resume(agent);
    }
    await checkOffersUntilItEnds("asked-to-die");
    await waitFor("its KILLED", () => latest("asked-to-die")?.state === TaskState.TASK_KILLED);
  });

  test("a task declared LOST while its agent was gone", async () => {
    returned = false;
    doomed = "";
    await run("declared-lost");
    const agent = cluster.agents[0];
    stopper.stop(agent);
    try {
      await waitFor(
        "the task to be declared lost",
        () => latest("declared-lost")?.state === TaskState.TASK_LOST,
        30_000,
      );
      doomed = "declared-lost";
      returned = true;
    } finally {
      stopper.resume(agent);
    }
    assert.equal(latest("declared-lost")?.reason, "REASON_AGENT_GONE");
    await checkOffersUntilItEnds("declared-lost");
    // The framework was told LOST; the kill on the agent's return is not a second end.
    const ends = updates.filter(
      (u) => u.taskId === "declared-lost" && u.uuid !== "" && u.state !== TaskState.TASK_RUNNING,
    );
    assert.deepEqual(
      [...new Set(ends.filter((u) => u.state !== TaskState.TASK_UNREACHABLE).map((u) => TaskState[u.state]))],
      ["TASK_LOST"],
    );
  });
});
