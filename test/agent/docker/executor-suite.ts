// The docker executor against a real engine: limits, states, logs, kill, OOM, recovery and
// refusals. Registered by docker-engine.test.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import Docker from "dockerode";
import { DockerExecutor, type DockerExecutorInit } from "../../../agent/docker-executor.js";
import {
  LABEL_AGENT,
  LABEL_FRAMEWORK,
  LABEL_TASK,
  LABEL_VOLUMES,
} from "../../../agent/docker/container-spec.js";
import { LaunchError, type TaskEnded } from "../../../agent/executor.js";
import { silentLogger } from "../../../common/logger.js";
import { Reason } from "../../../common/reasons.js";
import { TaskInfo, TaskState } from "../../../proto/gen/yard/v1/common.js";
import { tempDir, waitFor } from "../helpers.js";
import { TEST_IMAGE, type TestEngine } from "./engine.js";

const FW = "fw-docker";
const MIB = 1024 * 1024;

class Recorder {
  readonly ended: TaskEnded[] = [];
  readonly executor: DockerExecutor;
  constructor(init: DockerExecutorInit) {
    this.executor = new DockerExecutor({ onEnded: (e) => this.ended.push(e) }, init);
  }
  waitEnded(taskId: string, timeoutMs = 20_000): Promise<TaskEnded> {
    return waitFor(`the end of ${taskId}`, () => this.ended.find((e) => e.taskId === taskId), timeoutMs);
  }
}

function task(taskId: string, cmd: string, extra: Partial<TaskInfo> = {}): TaskInfo {
  return TaskInfo.fromPartial({
    taskId,
    command: { value: cmd, shell: true },
    resources: { cpus: 0.5, mem: 64, disk: 0, ports: [] },
    container: { image: TEST_IMAGE },
    executor: "docker",
    ...extra,
  });
}

function readFile(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

async function exists(docker: Docker, id: string): Promise<boolean> {
  try {
    await docker.getContainer(id).inspect();
    return true;
  } catch {
    return false;
  }
}

export function dockerExecutorSuite(engine: TestEngine): void {
  describe("docker executor", () => {
    const docker = engine.docker!;
    const agentId = `agent-test-${randomBytes(4).toString("hex")}`;
    const dataDir = tempDir("docker-exec");
    const hostDir = tempDir("docker-host");
    const init: DockerExecutorInit = {
      dataDir,
      docker,
      engine: engine.socket,
      logger: silentLogger,
      allowedHostPaths: [hostDir],
      pidsLimit: 100,
    };
    const rec = new Recorder(init);
    const launch = (info: TaskInfo, r = rec) =>
      r.executor.launch({ taskId: info.taskId, frameworkId: FW, agentId, info });

    after(async () => {
      await rec.executor.stop();
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_AGENT}=${agentId}`] },
      });
      await Promise.all(
        left.map((c) =>
          docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
      fs.rmSync(dataDir, { recursive: true, force: true });
      fs.rmSync(hostDir, { recursive: true, force: true });
    });

    test("limits are what the task asked, read back from inspect and from inside the container", async () => {
      const info = task(
        "t-limits",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us " +
          "/sys/fs/cgroup/cpu/cpu.cfs_period_us /sys/fs/cgroup/cpu/cpu.shares /sys/fs/cgroup/pids/pids.max; " +
          'echo "ports=$PORT0,$PORT1,$PORT task=$YARD_TASK_ID fw=$YARD_FRAMEWORK_ID x=$X"; ' +
          "head -c 20000000 /dev/zero > /tmp/fill; sleep 60",
        { resources: { cpus: 0.5, mem: 64, disk: 0, ports: [{ begin: 31007, end: 31008 }] } },
      );
      info.command!.env = { X: "y" };
      const state = await launch(info);
      const out = rec.executor.logPath("t-limits", "stdout");
      const text = await waitFor("the limits on stdout", () =>
        readFile(out).includes("ports=") ? readFile(out) : undefined,
      );
      assert.deepEqual(text.trim().split("\n"), [
        String(64 * MIB),
        "50000",
        "100000",
        "512",
        "100",
        `ports=31007,31008,31007 task=t-limits fw=${FW} x=y`,
      ]);
      const c = await docker.getContainer(state.containerId as string).inspect();
      assert.equal(c.HostConfig.Memory, 64 * MIB);
      assert.equal(c.HostConfig.MemorySwap, 64 * MIB);
      assert.equal(c.HostConfig.NanoCpus, 500_000_000);
      assert.equal(c.HostConfig.CpuShares, 512);
      assert.equal(c.HostConfig.PidsLimit, 100);
      assert.equal(c.HostConfig.Privileged, false);
      assert.equal(c.HostConfig.NetworkMode, "host");
      assert.deepEqual(c.HostConfig.Binds ?? [], []);
      assert.deepEqual(c.Mounts, []);
      assert.equal(c.Config.Labels[LABEL_TASK], "t-limits");
      assert.equal(c.Config.Labels["yard.framework"], FW);
      assert.equal(c.Config.Labels[LABEL_AGENT], agentId);
      assert.equal(rec.executor.isRunning("t-limits"), true);
      // Usage comes from the container's cgroup: the 20 MB file in /tmp is memory here.
      const usage = await waitFor("usage", () => {
        const u = rec.executor.usage("t-limits");
        return u && u.memBytes > 1 * MIB ? u : undefined;
      });
      assert.ok(usage.cpuSeconds >= 0);
      assert.ok(usage.memBytes < 64 * MIB, `memory ${usage.memBytes} is under the limit`);
    });

    test("kill ends the task KILLED within its grace and removes the container", async () => {
      // The shell ignores SIGTERM: only the SIGKILL at the end of the grace stops it.
      const state = await launch(task("t-kill", "trap '' TERM; echo up; sleep 60 & wait; sleep 60"));
      const out = rec.executor.logPath("t-kill", "stdout");
      await waitFor("the task to print", () => readFile(out).includes("up") || undefined);
      const t0 = Date.now();
      await rec.executor.kill("t-kill", 1000);
      const took = Date.now() - t0;
      const ended = await rec.waitEnded("t-kill");
      assert.equal(ended.state, TaskState.TASK_KILLED);
      assert.equal(ended.reason, Reason.KILL_REQUESTED);
      // Not before the grace; the upper bound only says it did not wait for the task (it never ends).
      assert.ok(took >= 900 && took < 15_000, `kill took ${took} ms for a grace of 1 s`);
      assert.equal(rec.executor.isRunning("t-kill"), false);
      assert.equal(await exists(docker, state.containerId as string), false, "container removed");
      // The limits test's task is killed the quick way: docker-init forwards SIGTERM.
      // A grace far longer than the kill takes: ending before it proves SIGTERM did it.
      const t1 = Date.now();
      await rec.executor.kill("t-limits", 30_000);
      assert.equal((await rec.waitEnded("t-limits")).state, TaskState.TASK_KILLED);
      assert.ok(Date.now() - t1 < 20_000, "SIGTERM reached the command");
    });

    test("exit codes and stdout/stderr apart; the finished container is removed after its logs", async () => {
      const state = await launch(task("t-exit", "echo out1; echo err1 >&2; echo out2; exit 3"));
      const ended = await rec.waitEnded("t-exit");
      assert.equal(ended.state, TaskState.TASK_FAILED);
      assert.equal(ended.reason, Reason.COMMAND_EXITED);
      assert.equal(ended.exitCode, 3);
      assert.equal(readFile(rec.executor.logPath("t-exit", "stdout")), "out1\nout2\n");
      assert.equal(readFile(rec.executor.logPath("t-exit", "stderr")), "err1\n");
      assert.equal(await exists(docker, state.containerId as string), false);

      await launch(task("t-zero", "echo fine"));
      const ok = await rec.waitEnded("t-zero");
      assert.equal(ok.state, TaskState.TASK_FINISHED);
      assert.equal(ok.exitCode, 0);
      assert.equal(readFile(rec.executor.logPath("t-zero", "stdout")), "fine\n");
    });

    test("a task that allocates past its memory limit ends FAILED, OOMKilled", async () => {
      // tail keeps the "line" it reads from /dev/zero in memory: it never ends.
      await launch(
        task("t-oom", "tail /dev/zero", { resources: { cpus: 0.5, mem: 16, disk: 0, ports: [] } }),
      );
      const ended = await rec.waitEnded("t-oom", 30_000);
      assert.equal(ended.state, TaskState.TASK_FAILED);
      assert.equal(ended.reason, Reason.MEMORY_LIMIT);
      assert.match(ended.message, /OOMKilled.*16 MiB/);
    });

    test("a missing image and an unreachable engine are launch failures; a missing command exits 127", async () => {
      await assert.rejects(
        launch(task("t-noimg", "true", { container: { image: "yard/no-such-image:1" } })),
        (err: unknown) =>
          err instanceof LaunchError &&
          /image "yard\/no-such-image:1" is not on this agent/.test(err.message),
      );
      // As with the process executor, a command that is not there exits 127 (the init says why on stderr).
      await launch(
        task("t-noexe", "", { command: { value: "/no/such/exe", arguments: [], shell: false, env: {} } }),
      );
      const noexe = await rec.waitEnded("t-noexe");
      assert.equal(noexe.state, TaskState.TASK_FAILED);
      assert.equal(noexe.exitCode, 127);
      assert.match(readFile(rec.executor.logPath("t-noexe", "stderr")), /no\/such\/exe/);
      await assert.rejects(
        launch(task("t-noimage", "true", { container: undefined })),
        (err: unknown) => err instanceof LaunchError && /task\.container\.image/.test(err.message),
      );
      const down = new Recorder({
        ...init,
        docker: new Docker({ socketPath: path.join(dataDir, "no-engine.sock") }),
        engine: "unix:///nowhere",
      });
      await assert.rejects(
        launch(task("t-down", "true"), down),
        (err: unknown) =>
          err instanceof LaunchError &&
          /Docker engine at unix:\/\/\/nowhere is not reachable/.test(err.message),
      );
      await down.executor.stop();
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_AGENT}=${agentId}`] },
      });
      assert.deepEqual(
        left.map((c) => c.Labels[LABEL_TASK]),
        [],
        "no container is left behind by a failed launch",
      );
    });

    test("host paths: only those the agent allows are mounted", async () => {
      fs.writeFileSync(path.join(hostDir, "hello.txt"), "from the host\n");
      await assert.rejects(
        launch(task("t-etc", "true", { labels: { [LABEL_VOLUMES]: "/etc:/host-etc:ro" } })),
        (err: unknown) => err instanceof LaunchError && /host path "\/etc" is not allowed/.test(err.message),
      );
      await launch(
        task("t-vol", "cat /data/hello.txt", { labels: { [LABEL_VOLUMES]: `${hostDir}:/data:ro` } }),
      );
      assert.equal((await rec.waitEnded("t-vol")).state, TaskState.TASK_FINISHED);
      assert.equal(readFile(rec.executor.logPath("t-vol", "stdout")), "from the host\n");
    });

    test("a new executor re-attaches to running containers and learns how stopped ones ended", async () => {
      const first = new Recorder(init);
      const s1 = await launch(task("t-re-run", "echo before; sleep 2; echo after; sleep 60"), first);
      const s2 = await launch(task("t-re-done", "echo bye; sleep 1; exit 4"), first);
      await waitFor(
        "output",
        () => readFile(first.executor.logPath("t-re-run", "stdout")).includes("before") || undefined,
      );
      await first.executor.stop(); // the agent stops; its containers keep running
      // t-re-done ends while no executor watches it.
      await waitFor("t-re-done's container to exit", async () => {
        const c = await docker.getContainer(s2.containerId as string).inspect();
        return !c.State.Running || undefined;
      });
      const second = new Recorder(init);
      const base = { frameworkId: FW, agentId, killRequested: false };
      await second.executor.recover({ ...base, taskId: "t-re-run", info: task("t-re-run", ""), state: s1 });
      await second.executor.recover({ ...base, taskId: "t-re-done", info: task("t-re-done", ""), state: s2 });
      assert.equal(second.executor.isRunning("t-re-run"), true);
      const done = await second.waitEnded("t-re-done");
      assert.equal(done.state, TaskState.TASK_FAILED);
      assert.equal(done.exitCode, 4);
      assert.equal(readFile(second.executor.logPath("t-re-done", "stdout")), "bye\n");
      const out = second.executor.logPath("t-re-run", "stdout");
      await waitFor("output after the re-attach", () => readFile(out).includes("after") || undefined);
      assert.equal(readFile(out), "before\nafter\n", "nothing lost, nothing repeated");
      assert.equal(first.ended.length, 0, "a stopped executor reports nothing");
      // An orphan: a container with this agent's label that no executor watches.
      const orphan = await docker.createContainer({
        Image: TEST_IMAGE,
        Cmd: ["sleep", "60"],
        Labels: { [LABEL_AGENT]: agentId, [LABEL_TASK]: "t-forgotten" },
        HostConfig: { NetworkMode: "none" },
      });
      await orphan.start();
      const removed = await second.executor.removeOrphans(agentId);
      assert.equal(removed.length, 1);
      assert.equal(await exists(docker, orphan.id), false);
      assert.equal(await exists(docker, s1.containerId as string), true, "a watched container stays");
      await second.executor.kill("t-re-run", 1000);
      assert.equal((await second.waitEnded("t-re-run")).state, TaskState.TASK_KILLED);
      await second.executor.stop();
    });

    test("onCreating runs while the engine creates; a launch cut short is found again by its labels", async () => {
      const first = new Recorder(init);
      const info = task("t-midlaunch", "echo up; sleep 60");
      let seenBeforeCreated = false;
      const state = await first.executor.launch({
        taskId: info.taskId,
        frameworkId: FW,
        agentId,
        info,
        onCreating: () => {
          // Called before the create call's answer was awaited: no watched container yet.
          seenBeforeCreated = !first.executor.isRunning(info.taskId);
        },
      });
      assert.equal(seenBeforeCreated, true);
      // The agent dies before it checkpoints the container id: a new executor looks by label.
      await first.executor.stop();
      const second = new Recorder(init);
      const req = { taskId: info.taskId, frameworkId: FW, agentId, info };
      const found = await second.executor.findLaunched(req);
      assert.ok(found, "the running container is found by its labels");
      assert.equal(found.containerId, state.containerId);
      assert.equal(found.sandbox, state.sandbox);
      await second.executor.recover({ ...req, killRequested: false, state: found });
      assert.equal(second.executor.isRunning(info.taskId), true);
      assert.deepEqual(
        await second.executor.removeOrphans(agentId),
        [],
        "a re-attached container is no orphan",
      );
      await second.executor.kill(info.taskId, 1000);
      assert.equal((await second.waitEnded(info.taskId)).state, TaskState.TASK_KILLED);
      assert.equal(readFile(second.executor.logPath(info.taskId, "stdout")), "up\n");
      // Created but never started (the agent died between create and start): removed, not found.
      const created = await docker.createContainer({
        Image: TEST_IMAGE,
        Cmd: ["sleep", "60"],
        Labels: { [LABEL_AGENT]: agentId, [LABEL_FRAMEWORK]: FW, [LABEL_TASK]: "t-never-started" },
        HostConfig: { NetworkMode: "none" },
      });
      const none = await second.executor.findLaunched({ ...req, taskId: "t-never-started" });
      assert.equal(none, undefined);
      assert.equal(await exists(docker, created.id), false);
      // A failing onCreating (the checkpoint write) undoes the launch: no container is left.
      const bad = task("t-oncreating-throws", "sleep 60");
      await assert.rejects(
        second.executor.launch({
          taskId: bad.taskId,
          frameworkId: FW,
          agentId,
          info: bad,
          onCreating: () => {
            throw new Error("disk full");
          },
        }),
        /disk full/,
      );
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_TASK}=t-oncreating-throws`] },
      });
      assert.equal(left.length, 0);
      await second.executor.stop();
    });
  });
}
