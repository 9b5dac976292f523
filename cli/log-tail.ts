// yardctl logs --tail N: the last N lines of a task's output. The master and the agent
// serve bytes (GetTaskLogsRequest.tail_bytes), so the lines are counted here: read the last
// W bytes, W = max(64 KiB, 256 bytes per line asked); when they hold fewer than N whole
// lines and the read did not reach the file's start, read again with twice the window,
// until N lines or the start of the file. A follow then resumes at the byte after the last
// one read, so nothing written in between is lost or shown twice.
import type { OperatorClient } from "./clients.js";
import { type LogRequest, pumpLogs } from "./log-stream.js";

const MIN_WINDOW = 64 * 1024;
const BYTES_PER_LINE = 256;
const NEWLINE = 0x0a;

/**
 * The last `n` lines of `data` (a line ends with "\n"; an unfinished last line counts as one),
 * or undefined when `data` holds fewer than `n` whole lines and more may lie before it
 * (`fromFileStart` false). Pure.
 */
export function lastLines(data: Buffer, n: number, fromFileStart: boolean): Buffer | undefined {
  if (n === 0) return Buffer.alloc(0);
  // A final "\n" ends the last line; it does not start another one.
  let pos = data.length > 0 && data[data.length - 1] === NEWLINE ? data.length - 1 : data.length;
  for (let found = 0; found < n; found++) {
    const nl = data.lastIndexOf(NEWLINE, pos - 1);
    if (nl < 0) return fromFileStart ? data : undefined;
    pos = nl;
  }
  return data.subarray(pos + 1);
}

/** The window of the first read for `n` lines. */
export function firstWindow(n: number): number {
  return Math.max(MIN_WINDOW, n * BYTES_PER_LINE);
}

export interface Tail {
  lines: Buffer;
  /** The byte after the last one read: where a follow resumes (0 for an empty file). */
  end: number;
}

/** Reads the last `n` lines of the stream `req` names (its follow flag is ignored). */
export async function readTail(client: OperatorClient, req: LogRequest, n: number): Promise<Tail> {
  // For 0 lines one byte is enough to learn where the file ends.
  for (let window = n === 0 ? 1 : firstWindow(n); ; window *= 2) {
    const chunks: Buffer[] = [];
    let start = -1;
    let end = 0;
    await pumpLogs(client, { ...req, follow: false, tailBytes: window, offset: 0 }, (data, offset) => {
      if (start < 0) start = offset;
      chunks.push(data);
      end = offset + data.length;
      return undefined;
    });
    const data = Buffer.concat(chunks);
    const lines = lastLines(data, n, start <= 0);
    if (lines) return { lines, end };
  }
}
