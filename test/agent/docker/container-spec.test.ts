import assert from "node:assert/strict";
import { describe, test } from "node:test";
import path from "node:path";
import {
  buildContainerSpec,
  CONTAINER_CAPABILITIES,
  containerName,
  LABEL_VOLUMES,
} from "../../../agent/docker/container-spec.js";
import { hostBinds, isWithin } from "../../../agent/docker/host-paths.js";
import { classifyContainerEnd } from "../../../agent/docker/container-exit.js";
import { engineAddress } from "../../../agent/docker/docker-engine.js";
import { Demuxer } from "../../../agent/docker/log-pump.js";
import { LaunchError, type LaunchRequest } from "../../../agent/executor.js";
import { Reason } from "../../../common/reasons.js";
import { TaskInfo, TaskState } from "../../../proto/gen/yard/v1/common.js";

const MIB = 1024 * 1024;
/**
 * A pretend host for the pure checks: `/srv/data/esc -> /` (planted by a task),
 * `/srv/data/in -> /srv/data/a` and `/srv/link -> /srv/data`; /srv/data/gone does not exist.
 * The docker suites and test/security resolve real symlinks.
 */
const LINKS: [string, string][] = [
  ["/srv/data/esc", "/"],
  ["/srv/data/in", "/srv/data/a"],
  ["/srv/link", "/srv/data"],
];
function resolveHostPath(p: string): string {
  const n = path.normalize(p);
  if (isWithin(n, "/srv/data/gone")) throw Object.assign(new Error("ENOENT"), { code: "ENOENT" });
  for (const [from, to] of LINKS) if (isWithin(n, from)) return path.join(to, path.relative(from, n));
  return n;
}
const policy = { allowedHostPaths: ["/srv/data"], pidsLimit: 256, resolveHostPath };

function req(partial: Partial<TaskInfo>): LaunchRequest {
  const info = TaskInfo.fromPartial({
    taskId: "web.1",
    command: { value: "httpd -f -p $PORT0", shell: true, env: { MODE: "prod", PORT0: "1" } },
    resources: { cpus: 1.5, mem: 128, disk: 0, ports: [{ begin: 31000, end: 31001 }] },
    container: { image: "yard/busybox:test" },
    labels: { team: "a" },
    ...partial,
  });
  return { taskId: info.taskId, frameworkId: "fw-1", agentId: "ag-1", info };
}

describe("container spec", () => {
  test("limits, host network, labels, env and the shell command", () => {
    const s = buildContainerSpec(req({}), policy, "yard-web.1-abc");
    assert.equal(s.Image, "yard/busybox:test");
    assert.deepEqual(s.Entrypoint, ["/bin/sh", "-c"]);
    assert.deepEqual(s.Cmd, ["httpd -f -p $PORT0"]);
    assert.deepEqual(s.Labels, {
      team: "a",
      "yard.task": "web.1",
      "yard.framework": "fw-1",
      "yard.agent": "ag-1",
    });
    assert.deepEqual(s.Env, [
      "MODE=prod",
      "PORT0=31000",
      "PORT1=31001",
      "PORT=31000",
      "YARD_TASK_ID=web.1",
      "YARD_AGENT_ID=ag-1",
      "YARD_FRAMEWORK_ID=fw-1",
    ]);
    const h = s.HostConfig!;
    assert.equal(h.NanoCpus, 1_500_000_000);
    assert.equal(h.CpuShares, 1536);
    assert.equal(h.Memory, 128 * MIB);
    assert.equal(h.MemorySwap, 128 * MIB);
    assert.equal(h.PidsLimit, 256);
    assert.equal(h.Privileged, false);
    assert.deepEqual(h.CapDrop, ["ALL"]);
    assert.deepEqual(h.CapAdd, [...CONTAINER_CAPABILITIES]);
    assert.ok(!CONTAINER_CAPABILITIES.includes("NET_RAW"));
    assert.deepEqual(h.SecurityOpt, ["no-new-privileges"]);
    assert.equal(h.NetworkMode, "host");
    assert.deepEqual(h.Binds, []);
  });

  test("without shell the command replaces CMD; without a command the image's CMD runs", () => {
    const argv = buildContainerSpec(
      req({ command: { value: "/bin/echo", arguments: ["a b"], shell: false, env: {} } }),
      policy,
      "n",
    );
    assert.equal(argv.Entrypoint, undefined);
    assert.deepEqual(argv.Cmd, ["/bin/echo", "a b"]);
    const none = buildContainerSpec(req({ command: undefined }), policy, "n");
    assert.equal(none.Cmd, undefined);
    assert.equal(none.Entrypoint, undefined);
  });

  test("no limit is set for a resource of 0", () => {
    const h = buildContainerSpec(req({ resources: { cpus: 0, mem: 64, disk: 0, ports: [] } }), policy, "n")
      .HostConfig!;
    assert.equal(h.NanoCpus, undefined);
    assert.equal(h.CpuShares, undefined);
    assert.equal(h.Memory, 64 * MIB);
  });

  const refusals: [string, Partial<TaskInfo>, RegExp][] = [
    ["no image", { container: undefined }, /task\.container\.image: the docker executor needs an image/],
    [
      "tiny memory",
      { resources: { cpus: 1, mem: 4, disk: 0, ports: [] } },
      /task\.resources\.mem: 4 MiB is below/,
    ],
    ["negative cpus", { resources: { cpus: -1, mem: 64, disk: 0, ports: [] } }, /task\.resources\.cpus: -1/],
    [
      "a host path not allowed",
      { labels: { [LABEL_VOLUMES]: "/etc:/x" } },
      /host path "\/etc" is not allowed.*\/srv\/data/,
    ],
    ["a sibling of an allowed path", { labels: { [LABEL_VOLUMES]: "/srv/database:/x" } }, /not allowed/],
    ["a relative path", { labels: { [LABEL_VOLUMES]: "data:/x" } }, /must be absolute/],
    ["a bad mode", { labels: { [LABEL_VOLUMES]: "/srv/data:/x:rx" } }, /mode "rx"/],
    ["an escape by ..", { labels: { [LABEL_VOLUMES]: "/srv/data/../../etc:/x" } }, /not allowed/],
    [
      "an escape by a symlink planted in an allowed path",
      { labels: { [LABEL_VOLUMES]: "/srv/data/esc:/x" } },
      /host path "\/srv\/data\/esc" \(it resolves to "\/"\) is not allowed/,
    ],
    [
      "a path that does not exist",
      { labels: { [LABEL_VOLUMES]: "/srv/data/gone/x:/x" } },
      /cannot be resolved \(ENOENT\); it must exist/,
    ],
  ];
  for (const [name, partial, message] of refusals) {
    test(`refused: ${name}`, () => {
      assert.throws(
        () => buildContainerSpec(req(partial), policy, "n"),
        (err: unknown) => err instanceof LaunchError && message.test(err.message),
      );
    });
  }

  test("allowed host paths become binds of where they lead", () => {
    assert.deepEqual(
      hostBinds(
        "t",
        "/srv/data/a:/data:ro, /srv/data:/all, /srv/data/in/b:/b, /srv/link/c:/c:rw",
        policy.allowedHostPaths,
        resolveHostPath,
      ),
      ["/srv/data/a:/data:ro", "/srv/data:/all", "/srv/data/a/b:/b", "/srv/data/c:/c:rw"],
    );
  });

  test("an allowed path given through a symlink allows where it leads", () => {
    assert.deepEqual(hostBinds("t", "/srv/data/a:/a", ["/srv/link"], resolveHostPath), ["/srv/data/a:/a"]);
  });

  test("the allow-list check is aware of path boundaries", () => {
    assert.equal(isWithin("/srv/data", "/srv/data"), true);
    assert.equal(isWithin("/srv/data/x", "/srv/data/"), true);
    assert.equal(isWithin("/srv/database", "/srv/data"), false);
    assert.equal(isWithin("/srv", "/srv/data"), false);
  });

  test("container names are docker-safe", () => {
    assert.equal(containerName("job-1:a@b", "ff00aa"), "yard-job-1_a_b-ff00aa");
  });
});

describe("container end", () => {
  const ctx = { taskId: "t", killRequested: false, memLimitMiB: 32 };
  const cases: [string, Parameters<typeof classifyContainerEnd>, TaskState, string, number | undefined][] = [
    ["exit 0", [ctx, { ExitCode: 0 }], TaskState.TASK_FINISHED, Reason.COMMAND_EXITED, 0],
    ["exit 3", [ctx, { ExitCode: 3 }], TaskState.TASK_FAILED, Reason.COMMAND_EXITED, 3],
    ["OOM", [ctx, { ExitCode: 137, OOMKilled: true }], TaskState.TASK_FAILED, Reason.MEMORY_LIMIT, 137],
    [
      "killed",
      [
        { ...ctx, killRequested: true },
        { ExitCode: 137, OOMKilled: true },
      ],
      TaskState.TASK_KILLED,
      Reason.KILL_REQUESTED,
      137,
    ],
    ["gone", [ctx, undefined], TaskState.TASK_FAILED, Reason.EXIT_STATUS_UNKNOWN, undefined],
  ];
  for (const [name, args, state, reason, code] of cases) {
    test(name, () => {
      const e = classifyContainerEnd(...args);
      assert.equal(e.state, state);
      assert.equal(e.reason, reason);
      assert.equal(e.exitCode, code);
    });
  }
  test("the OOM message says OOMKilled and the limit", () => {
    assert.match(
      classifyContainerEnd(ctx, { ExitCode: 137, OOMKilled: true }).message,
      /^OOMKilled: .*32 MiB/,
    );
  });
});

describe("docker log demuxer", () => {
  test("frames cut anywhere are split into stdout and stderr", () => {
    const frame = (s: number, text: string) => {
      const body = Buffer.from(text);
      const h = Buffer.alloc(8);
      h[0] = s;
      h.writeUInt32BE(body.length, 4);
      return Buffer.concat([h, body]);
    };
    const all = Buffer.concat([frame(1, "out1\n"), frame(2, "err\n"), frame(1, "out2\n")]);
    const got: string[] = [];
    const d = new Demuxer((s, data) => got.push(`${s}:${data.toString()}`));
    for (let i = 0; i < all.length; i += 3) d.push(all.subarray(i, i + 3));
    assert.deepEqual(got, ["1:out1\n", "2:err\n", "1:out2\n"]);
  });
});

describe("docker engine address", () => {
  test("forms it accepts", () => {
    assert.deepEqual(engineAddress("unix:///run/d.sock").options, { socketPath: "/run/d.sock" });
    assert.deepEqual(engineAddress("/run/d.sock").options, { socketPath: "/run/d.sock" });
    assert.deepEqual(engineAddress("tcp://127.0.0.1:2375").options, {
      protocol: "http",
      host: "127.0.0.1",
      port: 2375,
    });
    assert.deepEqual(engineAddress(undefined, { DOCKER_HOST: "unix:///x.sock" }).options, {
      socketPath: "/x.sock",
    });
    assert.deepEqual(engineAddress(undefined, {}).options, { socketPath: "/var/run/docker.sock" });
  });
  test("a bad address is named", () => {
    assert.throws(() => engineAddress("ssh://host"), /docker socket "ssh:\/\/host" is not/);
  });
});
