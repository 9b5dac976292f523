// Builds the executors an agent offers from its options and what the host has: the process
// executor (with cgroups when the host has them) and the docker executor (when an engine answers).
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { CgroupManager, detectCgroups } from "./cgroups.js";
import { connectEngine, engineAddress, pingEngine } from "./docker/docker-engine.js";
import { DockerExecutor } from "./docker-executor.js";
import type { Executor, ExecutorComponents } from "./executor.js";
import { ProcessExecutor } from "./process-executor.js";
import type { TaskUsers } from "./task-user.js";

export interface ProcessExecutorSetup {
  dataDir: string;
  cgroupRoot?: string;
  /** Who tasks run as. */
  users: TaskUsers;
}

/** The process executor; without cgroups it still runs, isolating by process group only. */
export function createProcessExecutor(
  o: ProcessExecutorSetup,
  events: ExecutorComponents,
  log: Logger,
): Executor {
  const support = detectCgroups(o.cgroupRoot);
  if (support.version === 0) {
    log.warn("cgroups unavailable: tasks are isolated by process group only, without limits", {
      reason: support.reason,
    });
  } else {
    log.info("cgroups enabled", { version: support.version });
  }
  return new ProcessExecutor(events, {
    dataDir: o.dataDir,
    cgroups: new CgroupManager(support, log),
    users: o.users,
    logger: log,
  });
}

export interface DockerExecutorSetup {
  dataDir: string;
  /** The Docker engine: unix:///path, /path or tcp://host:port (default DOCKER_HOST, then /var/run/docker.sock). */
  dockerSocket?: string;
  allowedHostPaths?: string[];
  /** Asked for by name: a missing engine is then a warning, not news. */
  explicit: boolean;
}

/** The docker executor when an engine answers, else undefined (logged with the reason). */
export async function createDockerExecutor(
  o: DockerExecutorSetup,
  events: ExecutorComponents,
  log: Logger,
): Promise<Executor | undefined> {
  let address: ReturnType<typeof engineAddress>;
  try {
    address = engineAddress(o.dockerSocket);
  } catch (err) {
    log.warn("docker executor disabled", { reason: errorMessage(err) });
    return undefined;
  }
  const docker = connectEngine(address);
  try {
    const version = await pingEngine(docker, 3000);
    const ex = new DockerExecutor(events, {
      dataDir: o.dataDir,
      docker,
      engine: address.display,
      allowedHostPaths: o.allowedHostPaths,
      logger: log,
    });
    log.info("docker executor enabled", { engine: address.display, version });
    return ex;
  } catch (err) {
    const fields = { engine: address.display, reason: errorMessage(err) };
    if (o.explicit) log.warn("no Docker engine answers: docker executor disabled", fields);
    else log.info("no Docker engine answers: docker executor disabled", fields);
    return undefined;
  }
}
