// Answers read_logs: streams a task's stdout or stderr file in chunks of at most 64 KiB over
// the agent's stream (the master never dials agents). With follow it keeps tailing until the
// task is terminal and the file is drained; cancel_logs stops it. log_flow pauses and resumes a
// read whose operator is behind: the file waits on disk, not in anyone's memory. The last
// message of every request has eof = true, with `error` when the request could not be served.
import fs from "node:fs";
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { AgentMessage, ReadLogs } from "../proto/gen/yard/v1/agent.js";

export const LOG_CHUNK_BYTES = 64 * 1024;

export interface LogSource {
  path: string;
  /** True once the task is terminal: nothing more will be written. */
  done: () => boolean;
}

export interface LogStreamerInit {
  logger: Logger;
  send: (msg: AgentMessage) => boolean;
  /** Resolves when `send` can take more without queueing (the stream to the master drained). */
  whenWritable?: () => Promise<void>;
  /** The file of a task's stream, or undefined for a task this agent does not know. */
  /** The log of task `taskId` of framework `frameworkId` (ids are unique per framework only). */
  resolve: (frameworkId: string, taskId: string, stream: "stdout" | "stderr") => LogSource | undefined;
  pollMs?: number;
}

interface ReadHandle {
  cancelled: boolean;
  paused: boolean;
  /** Resolves the wait of a paused read (on resume or cancel). */
  wake?: () => void;
}

export class LogStreamer {
  private readonly active = new Map<string, ReadHandle>();
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly init: LogStreamerInit) {}

  read(req: ReadLogs): void {
    const handle: ReadHandle = { cancelled: false, paused: false };
    this.active.set(req.requestId, handle);
    const p = this.serve(req, handle)
      .catch((err) => this.finish(req.requestId, `cannot read logs: ${errorMessage(err)}`))
      .finally(() => {
        this.active.delete(req.requestId);
        this.running.delete(p);
      });
    this.running.add(p);
  }

  cancel(requestId: string): void {
    const h = this.active.get(requestId);
    if (!h) return;
    h.cancelled = true;
    h.wake?.();
  }

  /** Pauses or resumes a read (the master's flow control for a reader that is behind). */
  flow(requestId: string, paused: boolean): void {
    const h = this.active.get(requestId);
    if (!h) return;
    h.paused = paused;
    if (!paused) h.wake?.();
  }

  /** Cancels every read: the stream they were asked on ended, and the master forgot them. */
  cancelAll(): void {
    for (const h of this.active.values()) {
      h.cancelled = true;
      h.wake?.();
    }
  }

  async stopAll(): Promise<void> {
    for (const h of this.active.values()) {
      h.cancelled = true;
      h.wake?.();
    }
    await Promise.all([...this.running]);
  }

  private finish(requestId: string, error = ""): void {
    this.init.send({ logData: { requestId, data: Buffer.alloc(0), eof: true, error, offset: 0 } });
  }

  private async serve(req: ReadLogs, handle: ReadHandle): Promise<void> {
    const stream = req.stream === "" ? "stdout" : req.stream;
    if (stream !== "stdout" && stream !== "stderr") {
      this.finish(req.requestId, `stream: "${req.stream}" is not stdout or stderr`);
      return;
    }
    const source = this.init.resolve(req.frameworkId, req.taskId, stream);
    if (!source || !fs.existsSync(source.path)) {
      this.finish(req.requestId, `unknown task ${req.taskId}`);
      return;
    }
    // The file lies in a sandbox its task may write: a link there must not make the agent
    // read (and ship) a file of the task's choosing.
    const c = fs.constants;
    const fh = await fs.promises
      .open(source.path, c.O_RDONLY | c.O_NOFOLLOW | c.O_NONBLOCK)
      .catch(() => undefined);
    if (!fh || !(await fh.stat()).isFile()) {
      await fh?.close();
      this.finish(req.requestId, `task ${req.taskId}: its ${stream} is not a regular file`);
      return;
    }
    try {
      const size = (await fh.stat()).size;
      const tail = Number(req.tailBytes);
      const offset = Number(req.offset);
      let pos = offset > 0 ? offset : tail > 0 ? Math.max(0, size - tail) : 0;
      const buf = Buffer.alloc(LOG_CHUNK_BYTES);
      for (;;) {
        while (handle.paused && !handle.cancelled) {
          await new Promise<void>((resolve) => {
            handle.wake = resolve;
          });
          handle.wake = undefined;
        }
        if (handle.cancelled) break;
        // Checked before reading, so that what was written before the task ended is drained.
        const wasDone = source.done();
        const { bytesRead } = await fh.read(buf, 0, LOG_CHUNK_BYTES, pos);
        if (bytesRead > 0) {
          const sent = this.init.send({
            logData: {
              requestId: req.requestId,
              data: Buffer.from(buf.subarray(0, bytesRead)),
              eof: false,
              error: "",
              offset: pos,
            },
          });
          pos += bytesRead;
          if (!sent) return;
          // Read no further than the stream to the master takes: the file waits on disk. A
          // cancel (or the agent stopping) ends the wait too: that stream may be gone for good.
          const writable = this.init.whenWritable;
          if (writable && !handle.cancelled) {
            await new Promise<void>((resolve) => {
              handle.wake = resolve;
              writable().then(resolve, resolve);
            });
            handle.wake = undefined;
          }
          continue;
        }
        if (!req.follow || wasDone) break;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, this.init.pollMs ?? 250);
          handle.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        handle.wake = undefined;
      }
    } finally {
      await fh.close();
    }
    this.finish(req.requestId);
  }
}
