// Defect 12: `tar` and `docker load` ran with no time limit, so one that hung held its launch in
// STAGING forever. A real master and agent; the agent finds a `tar` on its PATH that hangs (as
// unpacking from a stalled disk or a hung FUSE mount would). A task that uses a directory
// release must end FAILED, with the reason, within the agent's --tar-timeout, and the hung
// tool must be gone.
import assert from "node:assert/strict";
import fs from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  isTerminal,
  Reason,
  SchedulerDriver,
  type TaskStatus,
  TaskState,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { type Daemon, killDaemon, spawnYardctl } from "./memory-helpers.js";
import { tlsOf } from "../tls-fixture.js";

const TAR_TIMEOUT_S = 2;

describe("a hung tar fails the launch with the reason (real master and agent)", { timeout: 90_000 }, () => {
  const cluster = new TestCluster();
  const bin = join(cluster.root, "bin");
  const pidsFile = join(cluster.root, "tar.pids");
  let agent: Daemon | undefined;
  let driver: SchedulerDriver | undefined;

  before(async () => {
    fs.mkdirSync(bin);
    // Records its pid and its child's, then waits on the child.
    fs.writeFileSync(join(bin, "tar"), `#!/bin/sh\nsleep 600 &\necho $$ $! > ${pidsFile}\nwait\n`, {
      mode: 0o755,
    });
    await cluster.startMaster();
    agent = spawnYardctl(
      [
        "agent",
        "--master",
        cluster.masterAddress,
        "--data-dir",
        join(cluster.root, "agent-home"),
        "--token",
        cluster.token,
        "--cpus",
        "1",
        "--mem",
        "256",
        "--ports",
        "30000-30010",
        "--tar-timeout",
        String(TAR_TIMEOUT_S),
      ],
      { PATH: `${bin}:${process.env.PATH}` },
    );
    await cluster.waitForAgents(1);
  });

  after(async () => {
    await driver?.stop().catch(() => undefined);
    killDaemon(agent);
    if (fs.existsSync(pidsFile)) {
      for (const pid of fs.readFileSync(pidsFile, "utf8").trim().split(/\s+/)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // gone, as it should be
        }
      }
    }
    await cluster.stop();
  });

  test("the task ends FAILED naming the tool and the limit; the tool is killed", async () => {
    const site = join(cluster.root, "site");
    fs.mkdirSync(site);
    fs.writeFileSync(join(site, "index.html"), "hello\n");
    const push = await cluster.yardctl(["release", "push", "site@1.0", site]);
    assert.equal(push.code, 0, push.stderr);

    const statuses: TaskStatus[] = [];
    let launched = false;
    driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master: cluster.masterAddress,
      token: cluster.token,
      framework: { name: "install-timeout", role: "*" },
    });
    const d = driver;
    d.on("offers", async ({ offers }) => {
      for (const offer of offers) {
        const placed = launched ? [] : takeTasks(offer, [{ cpus: 0.1, mem: 16 }]).placed;
        if (placed.length === 0) {
          await d.decline([offer.id], { refuseSeconds: 1 }).catch(() => undefined);
          continue;
        }
        launched = true;
        const task = taskInfo({
          taskId: "uses-site",
          command: "cat index.html",
          cpus: 0.1,
          mem: 16,
          release: "site@1.0",
        });
        await d.launch(offer, [task], { refuseSeconds: 1 }).catch(() => {
          launched = false;
        });
      }
    });
    d.on("update", ({ status }) => {
      statuses.push(status);
    });
    await d.start();

    const started = Date.now();
    const end = await waitFor(
      "the task to end",
      () => statuses.find((s) => s.taskId === "uses-site" && isTerminal(s.state)),
      60_000,
    );
    assert.equal(end.state, TaskState.TASK_FAILED, `${end.reason}: ${end.message}`);
    assert.equal(end.reason, Reason.FETCH_FAILED);
    assert.match(end.message, new RegExp(`tar -x did not finish within ${TAR_TIMEOUT_S} s; killed`));
    assert.ok(Date.now() - started < 60_000);

    // The hung tool and what it started are gone (SIGKILL to its process group).
    const pids = fs.readFileSync(pidsFile, "utf8").trim().split(/\s+/).map(Number);
    await waitFor("the hung tar and its child to be gone", () =>
      pids.every((pid) => {
        try {
          process.kill(pid, 0);
        } catch {
          return true;
        }
        try {
          return /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
        } catch {
          return true;
        }
      }),
    );
  });
});
