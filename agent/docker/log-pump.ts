// Copies a container's output from the Docker API (`docker logs --follow`) into the task's
// sandbox files `stdout` and `stderr`, so that the agent's log streaming serves docker tasks
// exactly as process tasks. After an agent restart the pump starts again from the
// container's first byte and skips what the files already hold: the json-file log driver
// replays the same bytes, so the files continue without loss or repetition.
import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "../../common/logger.js";

/** A Docker multiplexed-stream frame header: [stream, 0, 0, 0, size (uint32 BE)]. */
const HEADER_BYTES = 8;

/** One output file that drops the first `skip` bytes written to it. */
class SkippingFile {
  private readonly out: fs.WriteStream;
  constructor(
    file: string,
    private skip: number,
  ) {
    this.out = fs.createWriteStream(file, { flags: "a" });
  }

  write(chunk: Buffer): void {
    if (this.skip >= chunk.length) {
      this.skip -= chunk.length;
      return;
    }
    const rest = this.skip > 0 ? chunk.subarray(this.skip) : chunk;
    this.skip = 0;
    this.out.write(rest);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.out.end(() => resolve());
      this.out.once("error", () => resolve());
    });
  }
}

/**
 * Splits Docker's multiplexed log stream (non-TTY containers) into its stdout and stderr
 * frames. Frames may arrive cut anywhere; the remainder waits for the next chunk.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly sink: (stream: 1 | 2, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= HEADER_BYTES) {
      const type = buf[0];
      const size = buf.readUInt32BE(4);
      if (buf.length < HEADER_BYTES + size) break;
      const data = buf.subarray(HEADER_BYTES, HEADER_BYTES + size);
      // 0 (stdin) never carries output; anything else but 2 is treated as stdout.
      this.sink(type === 2 ? 2 : 1, data);
      buf = buf.subarray(HEADER_BYTES + size);
    }
    this.pending = Buffer.from(buf);
  }
}

export function fileSize(file: string): number {
  try {
    return fs.statSync(file).size;
  } catch {
    return 0;
  }
}

export class LogPump {
  /** Resolves once the container's output has ended (it stopped) and the files are flushed. */
  readonly done: Promise<void>;
  private stream?: Readable;

  constructor(
    private readonly container: Docker.Container,
    private readonly sandbox: string,
    private readonly logger: Logger,
    private readonly taskId: string,
  ) {
    this.done = this.run();
  }

  /** Stops copying (the agent is stopping); the container keeps running and logging. */
  stop(): void {
    this.stream?.destroy();
  }

  private async run(): Promise<void> {
    const outFile = path.join(this.sandbox, "stdout");
    const errFile = path.join(this.sandbox, "stderr");
    const out = new SkippingFile(outFile, fileSize(outFile));
    const err = new SkippingFile(errFile, fileSize(errFile));
    try {
      const stream = (await this.container.logs({
        follow: true,
        stdout: true,
        stderr: true,
      })) as unknown as Readable;
      this.stream = stream;
      const demux = new Demuxer((s, data) => (s === 2 ? err : out).write(data));
      await new Promise<void>((resolve) => {
        stream.on("data", (chunk: Buffer) => demux.push(chunk));
        stream.once("end", () => resolve());
        stream.once("close", () => resolve());
        stream.once("error", (e) => {
          this.logger.warn("container log stream failed", { task: this.taskId, err: e });
          resolve();
        });
      });
    } catch (e) {
      this.logger.warn("cannot follow the container's logs", { task: this.taskId, err: e });
    } finally {
      await Promise.all([out.close(), err.close()]);
    }
  }
}
