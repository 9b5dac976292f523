// Runs a command inside a task's running container (`docker exec`): /bin/sh -c with the
// container's environment, output demultiplexed and its tail kept for messages. The engine
// cannot kill an exec'd process; past the timeout the result is "timed out" and the process
// is left to end by itself (as with Kubernetes' exec probes), so a check command should
// bound its own run time.
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import type { ExecResult } from "../executor.js";
import { withTimeout } from "./docker-engine.js";

const OUTPUT_TAIL_BYTES = 4096;

export async function execInContainer(
  docker: Docker,
  container: Docker.Container,
  command: string,
  timeoutMs: number,
): Promise<ExecResult> {
  const abort = new AbortController();
  let output = "";
  const sink = new PassThrough();
  sink.on("data", (b: Buffer) => {
    output = (output + b.toString()).slice(-OUTPUT_TAIL_BYTES);
  });
  const run = (async () => {
    const exec = await container.exec({
      Cmd: ["/bin/sh", "-c", command],
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
    });
    const stream = await exec.start({ hijack: true, stdin: false, abortSignal: abort.signal });
    docker.modem.demuxStream(stream, sink, sink);
    await new Promise<void>((resolve, reject) => {
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    const info = await exec.inspect();
    return info.ExitCode ?? undefined;
  })();
  try {
    const exitCode = await withTimeout(run, timeoutMs, "no exit");
    return { exitCode, timedOut: false, output };
  } catch (err) {
    abort.abort();
    run.catch(() => undefined);
    if (err instanceof Error && err.message.startsWith("no exit within")) {
      return { exitCode: undefined, timedOut: true, output };
    }
    throw err;
  }
}
