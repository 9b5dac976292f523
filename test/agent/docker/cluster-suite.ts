// Docker tasks through real daemons (yardctl master / agent / up as processes): an agent
// SIGKILLed and restarted re-attaches to its container while the master sees the task
// RUNNING throughout, and `yardctl run --image` prints the container's output.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { after, describe, test } from "node:test";
import { LABEL_TASK } from "../../../agent/docker/container-spec.js";
import {
  type Offer,
  SchedulerDriver,
  silentLogger,
  TaskState,
  type TaskStatus,
  taskInfo,
} from "../../../framework-sdk/index.js";
import { runYardctl, TestCluster, waitFor, YARDCTL } from "../../cluster/harness.js";
import { TEST_IMAGE, type TestEngine } from "./engine.js";
import { tlsOf } from "../../tls-fixture.js";

export function dockerClusterSuite(engine: TestEngine): void {
  const docker = engine.docker!;
  const containersOf = async (taskId: string) =>
    docker.listContainers({ all: true, filters: { label: [`${LABEL_TASK}=${taskId}`] } });

  describe("docker tasks through the cluster", () => {
    const cluster = new TestCluster(["--agent-timeout", "15"]);
    let driver: SchedulerDriver | undefined;
    const taskId = `dk-${Math.random().toString(36).slice(2, 8)}`;
    after(async () => {
      await driver?.stop().catch(() => undefined);
      await cluster.stop();
      for (const c of await containersOf(taskId)) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    });

    test("an agent SIGKILLed and restarted re-attaches to its running container; the master sees RUNNING throughout", async () => {
      await cluster.startMaster();
      await cluster.startAgent({
        extraArgs: ["--executors", "docker,process", "--docker-socket", engine.socket],
      });
      const [agent] = await cluster.waitForAgents(1);
      assert.deepEqual([...agent!.info!.executors].sort(), ["docker", "process"]);

      const latest = new Map<string, TaskStatus>();
      driver = new SchedulerDriver({
        ...tlsOf("framework"),
        master: cluster.masterAddress,
        token: cluster.token,
        framework: { name: "docker-test", role: "*", failoverTimeoutSeconds: 60 },
        logger: silentLogger,
      });
      let launched = false;
      driver.on("offers", async ({ offers }: { offers: Offer[] }) => {
        for (const offer of offers) {
          if (launched) {
            await driver!.decline([offer.id], { refuseSeconds: 60 }).catch(() => undefined);
            continue;
          }
          launched = true;
          const info = taskInfo({
            taskId,
            image: TEST_IMAGE,
            command: "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done",
            cpus: 0.2,
            mem: 32,
            killGraceSeconds: 1,
          });
          await driver!.launch(offer, [info], { refuseSeconds: 60 });
        }
      });
      driver.on("update", ({ status }: { status: TaskStatus }) => {
        latest.set(status.taskId, status);
      });
      await driver.start();
      await waitFor("the task RUNNING", () => latest.get(taskId)?.state === TaskState.TASK_RUNNING);
      const [before] = await containersOf(taskId);
      assert.ok(before, "the task runs in a container");
      assert.equal(before.State, "running");

      // Watch the master's view of the task while the agent dies and comes back.
      const seen = new Set<string>();
      let watching = true;
      let polls = 0;
      const watcher = (async () => {
        while (watching) {
          const t = (await cluster.getTasks()).find((r) => r.info?.taskId === taskId);
          seen.add(TaskState[t?.status?.state ?? 0]);
          polls++;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await cluster.kill(cluster.agents[0], "SIGKILL");
      await new Promise((r) => setTimeout(r, 500));
      await cluster.restartAgent(0);
      await waitFor("the restarted agent to re-attach", () =>
        cluster.agents[0]!.output.join("").includes("re-attached to running container"),
      );
      await cluster.waitForAgents(1);
      // The master settles the task at the re-registration just seen: a few more reads of its
      // view after that would show any other state.
      const after = polls;
      await waitFor("more reads of the master's view", () => polls >= after + 5 || undefined);
      watching = false;
      await watcher;
      assert.deepEqual([...seen], ["TASK_RUNNING"]);
      const [afterRestart] = await containersOf(taskId);
      assert.equal(afterRestart?.Id, before.Id, "the same container still runs");
      assert.equal(afterRestart?.State, "running");

      // Logs keep flowing through the restarted agent, each line once.
      const logs = await waitFor("ticks after the restart", async () => {
        const r = await cluster.yardctl(["logs", taskId]);
        const ticks = r.stdout.trim().split("\n");
        return ticks.length > 12 ? ticks : undefined;
      });
      assert.deepEqual(
        logs,
        logs.map((_, i) => `tick ${i + 1}`),
      );

      // The agent reports the container's usage to the master (every 10 s), for `get tasks`.
      const usage = await waitFor(
        "the task's usage at the master",
        async () =>
          (await cluster.getTasks()).find((r) => r.info?.taskId === taskId && (r.usage?.memBytes ?? 0) > 0)
            ?.usage,
        15_000,
      );
      assert.ok(usage.cpuSeconds > 0, `cpu seconds ${usage.cpuSeconds}`);

      await driver.kill(taskId);
      await waitFor("the task KILLED", () => latest.get(taskId)?.state === TaskState.TASK_KILLED, 10_000);
      await waitFor("the container removed", async () => (await containersOf(taskId)).length === 0, 10_000);
    });
  });

  describe("yardctl up + run --image", () => {
    let up: ChildProcess | undefined;
    after(async () => {
      if (up && up.exitCode === null && up.signalCode === null) {
        const exited = new Promise((r) => up!.once("exit", r));
        up.kill("SIGKILL");
        await exited;
      }
    });

    test("yardctl up enables docker when an engine answers; run --image prints the container's output", async () => {
      up = spawn(
        process.execPath,
        [
          YARDCTL,
          "up",
          "--temp",
          "--port",
          "0",
          "--http-port",
          "0",
          "--docker-socket",
          engine.socket,
          "--cpus",
          "2",
          "--mem",
          "1024",
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, YARD_LOG_LEVEL: "warn" } },
      );
      let out = "";
      up.stdout!.on("data", (b) => (out += b));
      up.stderr!.on("data", (b) => (out += b));
      const env = await waitFor("yardctl up to be up", () => {
        if (up!.exitCode !== null) throw new Error(`yardctl up exited: ${out}`);
        const m = /export (YARD_MASTER=\S+) (YARD_HOME=\S+)/.exec(out);
        return m && out.includes("executors:") ? m : undefined;
      });
      assert.match(out, /executors: process, docker/);
      const home = env[2]!.split("=")[1]!;
      // up made its own CA and an admin certificate in its data dir: use those, not the test CA.
      const vars = { YARD_MASTER: env[1]!.split("=")[1]!, YARD_HOME: home, YARD_TLS_DIR: `${home}/tls` };
      const r = await runYardctl(["run", "--image", TEST_IMAGE, "--", "echo", "hi"], 60_000, vars);
      assert.equal(r.stdout, "hi\n", r.stderr);
      assert.equal(r.code, 0, r.stderr);
      const exited = new Promise((res) => up!.once("exit", res));
      up.kill("SIGINT");
      await exited;
    });
  });
}
