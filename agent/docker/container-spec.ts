// What a task's container is made of: the Docker create request built from a launch. Pure:
// no I/O, so that every limit, label and refusal is checked by unit tests. The contract:
// never privileged, a minimal set of capabilities, no new privileges, host networking with the task's ports in PORT0..n, cgroup limits from
// the task's resources, labels that let a restarted agent find its containers, and no host
// mount unless the agent's own config allows where the host path leads.
import type Docker from "dockerode";
import { firstPorts } from "../../common/resources.js";
import { LaunchError, type LaunchRequest } from "../executor.js";
import { hostBinds, LABEL_VOLUMES, type ResolvePath } from "./host-paths.js";

export const LABEL_TASK = "yard.task";
export const LABEL_FRAMEWORK = "yard.framework";
export const LABEL_AGENT = "yard.agent";
export { LABEL_VOLUMES } from "./host-paths.js";

const MIB = 1024 * 1024;
/** Docker refuses a memory limit under 6 MiB. */
export const MIN_MEM_MIB = 6;
export const DEFAULT_PIDS_LIMIT = 4096;

/**
 * The only capabilities a container gets (all others dropped, whatever the engine's default
 * set): what an image running as root needs to set up its own files and drop to its own user
 * (chown, permission overrides, setuid/setgid to that user) and to signal its processes.
 * Dropped among Docker's defaults: NET_RAW (raw sockets on the host network: spoofing,
 * sniffing), NET_BIND_SERVICE (ports below 1024 on the host network; tasks get theirs in
 * PORT0..n), MKNOD, SYS_CHROOT, SETFCAP, SETPCAP, AUDIT_WRITE and FSETID.
 */
export const CONTAINER_CAPABILITIES: readonly string[] = [
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "SETGID",
  "SETUID",
  "KILL",
];

export interface ContainerPolicy {
  /** Host paths (absolute) that tasks may mount, with everything below them. */
  allowedHostPaths: readonly string[];
  /** Where a host path leads (realpath on the agent), for the allow-list check and the bind. */
  resolveHostPath: ResolvePath;
  /** Most processes a container may have. */
  pidsLimit: number;
}

/** A docker-safe, readable container name; the random suffix keeps retries of one id apart. */
export function containerName(taskId: string, suffix: string): string {
  const safe = taskId.replace(/[^a-zA-Z0-9_.-]/g, "_").slice(0, 200);
  return `yard-${safe}-${suffix}`;
}

/**
 * The environment inside the container: `command.env`, then what Yard sets (PORTn, PORT,
 * YARD_*), which the task cannot override. PATH and HOME come from the image.
 */
export function containerEnv(req: LaunchRequest, ports: readonly number[]): string[] {
  const env: Record<string, string> = { ...(req.info.command?.env ?? {}) };
  ports.forEach((p, i) => {
    env[`PORT${i}`] = String(p);
  });
  if (ports.length > 0) env.PORT = String(ports[0]);
  env.YARD_TASK_ID = req.taskId;
  env.YARD_AGENT_ID = req.agentId;
  env.YARD_FRAMEWORK_ID = req.frameworkId;
  return Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

/**
 * The container's entrypoint and command. With `shell` the command runs under `/bin/sh -c`
 * of the image; without, `value` and `arguments` replace the image's CMD (its ENTRYPOINT
 * stays, as with `docker run IMAGE CMD...`); with no command the image's own CMD runs.
 */
export function containerCommand(req: LaunchRequest): { Entrypoint?: string[]; Cmd?: string[] } {
  const c = req.info.command;
  if (!c || c.value.trim() === "") return {};
  if (c.shell) return { Entrypoint: ["/bin/sh", "-c"], Cmd: [c.value] };
  return { Cmd: [c.value, ...c.arguments] };
}

/** The create request for a task's container. Throws LaunchError naming a bad field. */
export function buildContainerSpec(
  req: LaunchRequest,
  policy: ContainerPolicy,
  name: string,
): Docker.ContainerCreateOptions {
  const { taskId, info } = req;
  const image = info.container?.image?.trim() ?? "";
  if (image === "") throw new LaunchError(taskId, "task.container.image: the docker executor needs an image");
  const cpus = info.resources?.cpus ?? 0;
  const mem = info.resources?.mem ?? 0;
  if (!Number.isFinite(cpus) || cpus < 0) {
    throw new LaunchError(taskId, `task.resources.cpus: ${cpus} is not a non-negative number`);
  }
  if (!Number.isFinite(mem) || mem < 0) {
    throw new LaunchError(taskId, `task.resources.mem: ${mem} is not a non-negative number`);
  }
  if (mem > 0 && mem < MIN_MEM_MIB) {
    throw new LaunchError(
      taskId,
      `task.resources.mem: ${mem} MiB is below Docker's minimum memory limit of ${MIN_MEM_MIB} MiB`,
    );
  }
  const ports = firstPorts(info.resources?.ports ?? [], 1000);
  const memBytes = Math.floor(mem * MIB);
  const hostConfig: Docker.HostConfig = {
    NetworkMode: "host",
    Privileged: false,
    CapDrop: ["ALL"],
    CapAdd: [...CONTAINER_CAPABILITIES],
    // no-new-privileges: setuid binaries in the image cannot raise what the task may do.
    SecurityOpt: ["no-new-privileges"],
    // A real init as PID 1 forwards SIGTERM to the command and reaps its children, so that
    // a kill ends the task within its grace instead of waiting for SIGKILL.
    Init: true,
    PidsLimit: policy.pidsLimit,
    Binds: hostBinds(taskId, info.labels[LABEL_VOLUMES], policy.allowedHostPaths, policy.resolveHostPath),
    // The agent removes each container itself once its end and its logs are kept.
    AutoRemove: false,
    RestartPolicy: { Name: "no" },
    LogConfig: { Type: "json-file", Config: {} },
  };
  if (cpus > 0) {
    hostConfig.NanoCpus = Math.round(cpus * 1e9);
    hostConfig.CpuShares = Math.max(2, Math.round(cpus * 1024));
  }
  if (memBytes > 0) {
    hostConfig.Memory = memBytes;
    // Equal to Memory: no swap beyond the limit.
    hostConfig.MemorySwap = memBytes;
  }
  return {
    name,
    Image: image,
    ...containerCommand(req),
    Env: containerEnv(req, ports),
    Labels: {
      ...info.labels,
      [LABEL_TASK]: taskId,
      [LABEL_FRAMEWORK]: req.frameworkId,
      [LABEL_AGENT]: req.agentId,
    },
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: hostConfig,
  };
}
