// The web UI's live event stream: Server-Sent Events fed by the master's event log. Each
// event's SSE id is its index, so the browser's EventSource resumes after a reconnect from
// the last one it saw (Last-Event-ID), replaying what is still in the log's window.
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidArgumentError } from "../../common/errors.js";
import { ClusterEvent } from "../../proto/gen/yard/v1/operator.js";
import type { EventLog } from "../event-log.js";
import { UI_HEADERS } from "./http-replies.js";

/** Most events replayed at connect; an older backlog is skipped (the page says from where). */
const REPLAY_LIMIT = 500;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** A browser this far behind is cut off; it reconnects and resumes from its last event. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * Where a watcher resumes: Last-Event-ID (a reconnect), else `?after=N`, else the last
 * REPLAY_LIMIT events. Throws InvalidArgumentError naming the bad value.
 */
export function resumeIndex(req: IncomingMessage, query: URLSearchParams, events: EventLog): number {
  const header = req.headers["last-event-id"];
  const given = typeof header === "string" && header !== "" ? header : query.get("after");
  if (given === null || given === undefined)
    return Math.max(0, events.lastIndex() - REPLAY_LIMIT, events.firstIndex() - 1);
  const n = Number(given);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new InvalidArgumentError(
      typeof header === "string" && header !== "" ? "Last-Event-ID" : "after",
      `"${given}" is not an event index`,
    );
  return n;
}

export function streamEvents(
  req: IncomingMessage,
  res: ServerResponse,
  events: EventLog,
  after: number,
): void {
  res.writeHead(200, {
    ...UI_HEADERS,
    "content-type": "text/event-stream; charset=utf-8",
    connection: "keep-alive",
  });
  let last = after;
  const send = (e: ClusterEvent) => {
    if (e.index <= last) return;
    last = e.index;
    res.write(`id: ${e.index}\nevent: cluster\ndata: ${JSON.stringify(ClusterEvent.toJSON(e))}\n\n`);
    if (res.writableLength > MAX_BUFFERED_BYTES) close();
  };
  // Subscribe first, then replay: an event committed in between is sent once (index check).
  const unsubscribe = events.subscribe(send);
  const first = events.firstIndex();
  if (after + 1 < first) res.write(`event: gap\ndata: ${JSON.stringify({ firstIndex: first })}\n\n`);
  for (const e of events.since(after, REPLAY_LIMIT * 10)) send(e);
  const keepalive = setInterval(() => res.write(": keepalive\n\n"), KEEPALIVE_MS);
  keepalive.unref();
  function close(): void {
    unsubscribe();
    clearInterval(keepalive);
    res.end();
  }
  req.on("close", close);
}
