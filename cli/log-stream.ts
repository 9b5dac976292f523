// Reads a task's stdout or stderr through the master (OperatorService.GetTaskLogs), the
// leader among several.
import { once } from "node:events";
import type { OperatorClient } from "./clients.js";

/** A sink for pumpLogs that writes to `out` and waits for "drain" when it is full. */
export function writeTo(out: NodeJS.WritableStream): (data: Buffer) => undefined | Promise<unknown> {
  return (data) => (out.write(data) ? undefined : once(out as NodeJS.EventEmitter, "drain"));
}

export interface LogRequest {
  taskId: string;
  /** The task's framework, when the operator named it (--framework). */
  frameworkId?: string;
  stream: "stdout" | "stderr";
  follow: boolean;
  tailBytes?: number;
  /** Start at this byte of the file (after output already shown); 0: tailBytes decides. */
  offset?: number;
}

/** Gets each chunk and where it starts in the task's file; a promise holds the stream. */
export type LogSink = (data: Buffer, offset: number) => undefined | Promise<unknown>;

/**
 * Passes every chunk to `sink` until the last chunk (eof), the end of the stream, or an
 * abort. With follow, the master ends the stream once the task has ended and all of its
 * output was sent. Returns the number of bytes passed on. A sink that returns a promise (its
 * output is full: a paused pager, a slow pipe) holds the stream until it settles, so the
 * back-pressure reaches the master and the agent instead of filling this process.
 */
export async function pumpLogs(
  client: OperatorClient,
  req: LogRequest,
  sink: LogSink,
  signal?: AbortSignal,
): Promise<number> {
  let bytes = 0;
  /** Where the next byte starts in the task's file: a read resumed after a failover asks for it. */
  let next = req.offset ?? 0;
  const open = () =>
    client.getTaskLogs({
      taskId: req.taskId,
      frameworkId: req.frameworkId ?? "",
      stream: req.stream,
      follow: req.follow,
      tailBytes: req.tailBytes ?? 0,
      offset: next,
    });
  try {
    await client.consumeAcrossFailover(
      open,
      (chunk, stream) => {
        if (chunk.data.length > 0) {
          bytes += chunk.data.length;
          next = Number(chunk.offset) + chunk.data.length;
          const full = sink(Buffer.from(chunk.data), Number(chunk.offset));
          if (full) {
            stream.pause();
            full.finally(() => stream.resume());
          }
        }
        return chunk.eof ? true : undefined;
      },
      // The master that relayed the log died or stepped down: the new leader relays it from
      // the byte after the last one written out, so nothing is shown twice or skipped.
      (err) =>
        process.stderr.write(
          `yardctl: the log stream ended (${err.details ?? "unavailable"}); resuming at byte ${next}\n`,
        ),
      signal,
    );
  } catch (err) {
    throw client.streamError(err);
  }
  return bytes;
}
