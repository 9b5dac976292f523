// Hole 6 of the security review, containers: they kept Docker's default capabilities (NET_RAW
// included) on the host network. A real engine and the docker executor: inside a task's
// container, /proc/self/status shows an effective and bounding set without NET_RAW (nor
// anything beyond CONTAINER_CAPABILITIES) and NoNewPrivs set; a raw socket cannot be opened.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { after, describe, test } from "node:test";
import { DockerExecutor } from "../../agent/docker-executor.js";
import { CONTAINER_CAPABILITIES, LABEL_AGENT } from "../../agent/docker/container-spec.js";
import type { TaskEnded } from "../../agent/executor.js";
import { silentLogger } from "../../common/logger.js";
import { TaskInfo, TaskState } from "../../proto/gen/yard/v1/common.js";
import { findTestEngine, skipUnlessEngine, TEST_IMAGE } from "../agent/docker/engine.js";
import { tempDir, waitFor } from "../agent/helpers.js";

/** Bit numbers of linux/capability.h. */
const CAP_BITS: Record<string, number> = {
  CHOWN: 0,
  DAC_OVERRIDE: 1,
  FOWNER: 3,
  KILL: 5,
  SETGID: 6,
  SETUID: 7,
  NET_RAW: 13,
};

function capNames(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return Object.entries(CAP_BITS)
    .filter(([, bit]) => (mask >> BigInt(bit)) & 1n)
    .map(([name]) => name)
    .sort();
}

const engine = await findTestEngine();

describe("container capabilities", { skip: skipUnlessEngine(engine) }, () => {
  test("a Docker engine with the test image answers", () => {
    assert.equal(engine.missing, undefined, engine.missing);
  });
  if (engine.missing) return;
  const docker = engine.docker!;
  const agentId = `agent-caps-${randomBytes(4).toString("hex")}`;
  const dataDir = tempDir("caps");
  const ended: TaskEnded[] = [];
  const executor = new DockerExecutor(
    { onEnded: (e) => ended.push(e) },
    { dataDir, docker, engine: engine.socket, logger: silentLogger },
  );

  after(async () => {
    await executor.stop();
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
  });

  test("CapEff and CapBnd lack NET_RAW, NoNewPrivs is 1, and a raw socket is refused", async () => {
    const taskId = "caps";
    const info = TaskInfo.fromPartial({
      taskId,
      // busybox ping opens a raw ICMP socket when it may; as root without NET_RAW it may not.
      command: {
        value:
          "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status; ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1; echo ping=$?",
        shell: true,
      },
      resources: { cpus: 0.2, mem: 32, disk: 0, ports: [] },
      container: { image: TEST_IMAGE },
      executor: "docker",
    });
    await executor.launch({ taskId, frameworkId: "fw-caps", agentId, info });
    const end = await waitFor("the end of the task", () => ended.find((e) => e.taskId === taskId), 30_000);
    assert.equal(end.state, TaskState.TASK_FINISHED, end.message);
    const out = fs.readFileSync(executor.logPath(taskId, "stdout"), "utf8");
    const field = (name: string) => out.match(new RegExp(`^${name}:\\s*(\\S+)`, "m"))?.[1];
    const expected = [...CONTAINER_CAPABILITIES].sort();
    assert.deepEqual(capNames(field("CapEff")!), expected, out);
    assert.deepEqual(capNames(field("CapBnd")!), expected, out);
    // Nothing outside the kept set: the mask is exactly theirs.
    const keptMask = CONTAINER_CAPABILITIES.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n);
    assert.equal(BigInt(`0x${field("CapEff")}`), keptMask, out);
    assert.equal(field("NoNewPrivs"), "1", out);
    assert.match(out, /^ping=[1-9]/m, out);
  });
});
