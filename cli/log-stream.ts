// Reads a task's stdout or stderr through the master (OperatorService.GetTaskLogs).
import type { OperatorClient } from "./clients.js";
import { consume } from "./streams.js";

export interface LogRequest {
  taskId: string;
  /** The task's framework, when the operator named it (--framework). */
  frameworkId?: string;
  stream: "stdout" | "stderr";
  follow: boolean;
  tailBytes?: number;
}

/**
 * Passes every chunk to `sink` until the last chunk (eof), the end of the stream, or an
 * abort. With follow, the master ends the stream once the task has ended and all of its
 * output was sent. Returns the number of bytes passed on.
 */
export async function pumpLogs(
  client: OperatorClient,
  req: LogRequest,
  sink: (data: Buffer) => void,
  signal?: AbortSignal,
): Promise<number> {
  let bytes = 0;
  const stream = client.getTaskLogs({
    taskId: req.taskId,
    frameworkId: req.frameworkId ?? "",
    stream: req.stream,
    follow: req.follow,
    tailBytes: req.tailBytes ?? 0,
  });
  try {
    await consume(
      stream,
      (chunk) => {
        if (chunk.data.length > 0) {
          bytes += chunk.data.length;
          sink(Buffer.from(chunk.data));
        }
        return chunk.eof ? true : undefined;
      },
      signal,
    );
  } catch (err) {
    throw client.streamError(err);
  }
  return bytes;
}
