// Finds the Docker engine the docker tests run against (DOCKER_HOST, else the default
// socket) and the local test image. Outside CI a missing engine skips the docker suites with
// one line saying how to enable them; under CI=true it is a failure.
import type Docker from "dockerode";
import { connectEngine, engineAddress, pingEngine } from "../../../agent/docker/docker-engine.js";

export const TEST_IMAGE = "yard/busybox:test";

export interface TestEngine {
  docker?: Docker;
  /** unix:///... as the agent's --docker-socket takes it. */
  socket: string;
  /** Why the engine tests cannot run; undefined when they can. */
  missing?: string;
}

export async function findTestEngine(): Promise<TestEngine> {
  let socket = "";
  try {
    const address = engineAddress(undefined);
    socket = address.display;
    const docker = connectEngine(address);
    try {
      await pingEngine(docker, 3000);
    } catch {
      return {
        socket,
        missing: `no Docker engine at ${socket} (start one: eval "$(scripts/docker-engine.sh start /tmp/yard-docker)"; then scripts/build-test-image.sh)`,
      };
    }
    try {
      await docker.getImage(TEST_IMAGE).inspect();
    } catch {
      return {
        socket,
        missing: `image ${TEST_IMAGE} is missing at ${socket} (build it with scripts/build-test-image.sh)`,
      };
    }
    return { docker, socket };
  } catch (err) {
    return { socket, missing: `DOCKER_HOST is unusable: ${(err as Error).message}` };
  }
}

/** The describe() option: skip outside CI, run (and fail) under CI=true. */
export function skipUnlessEngine(engine: TestEngine): string | false {
  if (!engine.missing) return false;
  if (process.env.CI === "true") return false;
  return engine.missing;
}
