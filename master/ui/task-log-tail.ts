// The tail of a task's stdout or stderr for the web UI's task page: one read (no follow)
// relayed from the task's agent through its stream (master/log-relay.ts), as GetTaskLogs does
// for yardctl, collected into one answer.
import { FailedPreconditionError, InvalidArgumentError, UnavailableError } from "../../common/errors.js";
import type { Master } from "../master.js";

/** Most bytes one page shows; a longer log is read with `yardctl logs`. */
export const MAX_TAIL_BYTES = 256 * 1024;
const READ_TIMEOUT_MS = 15_000;

export interface LogTailRequest {
  taskId: string;
  frameworkId: string;
  stream: string;
  tailBytes: number;
}

export function readLogTail(master: Master, req: LogTailRequest): Promise<Buffer> {
  if (req.stream !== "stdout" && req.stream !== "stderr")
    return Promise.reject(new InvalidArgumentError("stream", `"${req.stream}" is not stdout or stderr`));
  if (!Number.isInteger(req.tailBytes) || req.tailBytes < 1 || req.tailBytes > MAX_TAIL_BYTES)
    return Promise.reject(
      new InvalidArgumentError("tail", `${req.tailBytes} is not a byte count from 1 to ${MAX_TAIL_BYTES}`),
    );
  let source: ReturnType<Master["taskLogSource"]>;
  try {
    source = master.taskLogSource(req.taskId, req.frameworkId);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const requestId = master.logs.open({
      agentId: source.agentId,
      data: (chunk) => {
        chunks.push(chunk);
        size += chunk.length;
      },
      end: (error) => {
        clearTimeout(timer);
        if (error) reject(new FailedPreconditionError(error));
        else resolve(Buffer.concat(chunks, size).subarray(-req.tailBytes));
      },
    });
    const timer = setTimeout(() => {
      master.logs.close(requestId);
      source.link.send({ cancelLogs: { requestId } });
      reject(new UnavailableError(`the agent of task ${req.taskId} did not send its log in time`));
    }, READ_TIMEOUT_MS);
    source.link.send({
      readLogs: {
        requestId,
        taskId: req.taskId,
        frameworkId: source.frameworkId,
        stream: req.stream,
        follow: false,
        tailBytes: req.tailBytes,
        offset: 0,
      },
    });
  });
}
