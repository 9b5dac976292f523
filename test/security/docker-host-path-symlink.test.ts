// Hole 3 of the security review: the Docker host-path allow-list escaped with a symlink (the
// pattern of Kubernetes CVE-2017-1002101). A real master and agent with `--allow-host-path`
// and a real Docker engine: task 1 mounts the allowed directory and plants `data/esc -> /`
// in it; task 2 asks to mount `allowed/data/esc` to read a secret of the host. The launch
// must be refused, naming the path and where it leads, and no container may be created for
// it. A symlink that stays inside the allowed directory still works, bound by where it leads.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { LABEL_TASK, LABEL_VOLUMES } from "../../agent/docker/container-spec.js";
import { Reason, TaskState, taskInfo } from "../../framework-sdk/index.js";
import { findTestEngine, skipUnlessEngine, TEST_IMAGE } from "../agent/docker/engine.js";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { TaskRunner } from "./task-runner.js";

const engine = await findTestEngine();

describe("docker host paths: a symlink planted in an allowed path", {
  skip: skipUnlessEngine(engine),
}, () => {
  test("a Docker engine with the test image answers", () => {
    assert.equal(engine.missing, undefined, engine.missing);
  });
  if (engine.missing) return;
  const docker = engine.docker!;
  const cluster = new TestCluster();
  const allowed = path.join(cluster.root, "allowed");
  const secret = path.join(cluster.root, "host-secret");
  let runner: TaskRunner | undefined;
  const tasks: string[] = [];
  const containersOf = (taskId: string) =>
    docker.listContainers({ all: true, filters: { label: [`${LABEL_TASK}=${taskId}`] } });
  const dockerTask = (taskId: string, command: string, volumes: string) => {
    tasks.push(taskId);
    return taskInfo({
      taskId,
      image: TEST_IMAGE,
      command,
      cpus: 0.1,
      mem: 32,
      killGraceSeconds: 1,
      labels: { [LABEL_VOLUMES]: volumes },
    });
  };

  before(async () => {
    fs.mkdirSync(allowed);
    fs.writeFileSync(secret, "the host's secret\n", { mode: 0o600 });
    await cluster.startMaster();
    await cluster.startAgent({
      extraArgs: [
        "--executors",
        "docker,process",
        "--docker-socket",
        engine.socket,
        "--allow-host-path",
        allowed,
      ],
    });
    await cluster.waitForAgents(1);
    runner = new TaskRunner(cluster.masterAddress, cluster.token, "host-path-attack");
    await runner.start();
  });

  after(async () => {
    await runner?.stop().catch(() => undefined);
    await cluster.stop();
    for (const t of tasks) {
      for (const c of await containersOf(t)) {
        await docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined);
      }
    }
  });

  test("task 2 cannot mount the symlink task 1 planted: refused naming where it leads, no container", async () => {
    const plant = await runner!.run(
      dockerTask(
        "plant-link",
        "mkdir -p /allowed/data && ln -s / /allowed/data/esc",
        `${allowed}:/allowed:rw`,
      ),
    );
    assert.equal(plant.state, TaskState.TASK_FINISHED, plant.message);
    assert.equal(fs.readlinkSync(path.join(allowed, "data", "esc")), "/", "task 1 planted the link");

    const esc = path.join(allowed, "data", "esc");
    const steal = await runner!.run(dockerTask("steal", `cat /host${secret}`, `${esc}:/host:ro`));
    assert.equal(steal.state, TaskState.TASK_FAILED);
    assert.equal(steal.reason, Reason.LAUNCH_FAILED);
    assert.ok(
      steal.message.includes(`host path "${esc}" (it resolves to "/") is not allowed`),
      steal.message,
    );
    assert.deepEqual(await containersOf("steal"), [], "no container was created for the refused task");
  });

  test("a symlink inside the allowed path is followed and bound by where it leads", async () => {
    const realAllowed = fs.realpathSync(allowed);
    fs.mkdirSync(path.join(allowed, "site"));
    fs.writeFileSync(path.join(allowed, "site", "index.html"), "inside\n");
    fs.symlinkSync("site", path.join(allowed, "current"));
    await runner!.running(
      dockerTask("read-inside", "cat /www/index.html; sleep 600", `${path.join(allowed, "current")}:/www:ro`),
    );
    const c = await waitFor(
      "the container of read-inside",
      async () => (await containersOf("read-inside"))[0],
    );
    const binds = (await docker.getContainer(c.Id).inspect()).HostConfig.Binds;
    assert.deepEqual(binds, [`${path.join(realAllowed, "site")}:/www:ro`]);
    await runner!.kill("read-inside");
  });
});
