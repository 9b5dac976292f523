// Serves one OperatorService.Watch. The watcher's backlog is a cursor into the master's event
// log (kept anyway, 10,000 events), not a queue of its own: events are written only while the
// client keeps up, and the rest wait in the log, so a watcher costs no memory however far
// behind it is. It is dropped with RESOURCE_EXHAUSTED once it is more than `maxBehind` events
// behind (5,000 by default: half the log, so that the events after the index the message
// names are still kept when it reconnects), or if what it needs has left the log. A burst
// (a big Accept records one event per task) is no reason: only the lag counts.
import { type ServerWritableStream, status } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { type OpenStreams, StreamWriter } from "../../common/stream-writer.js";
import type { ClusterEvent, WatchRequest } from "../../proto/gen/yard/v1/operator.js";
import type { EventLog } from "../event-log.js";

/**
 * Events handed to the stream and not yet taken by HTTP/2, at most. More than grpc-js's own
 * buffer (16), so that a client that keeps up is not held to 16 events per turn of the loop.
 */
const IN_FLIGHT = 256;

export function watchEvents(
  events: EventLog,
  call: ServerWritableStream<WatchRequest, ClusterEvent>,
  opts: { afterIndex: number; maxBehind: number; openStreams: OpenStreams; log: Logger },
): void {
  const { maxBehind, log } = opts;
  // A reconnect after the window moved on starts at the oldest event still kept.
  let cursor = Math.max(opts.afterIndex, events.firstIndex() - 1);
  const out = new StreamWriter<ClusterEvent>(call, {
    openStreams: opts.openStreams,
    onSent: () => {
      if (out.pending().messages <= IN_FLIGHT / 2) pump();
    },
  });
  const room = () => IN_FLIGHT - out.pending().messages;
  const drop = (behind: number) => {
    const details = `watcher too slow: ${behind} events behind; reconnect with after_index=${cursor}`;
    log.warn("dropped a slow event watcher", { peer: call.getPeer(), behind });
    unsubscribe();
    out.fail({ code: status.RESOURCE_EXHAUSTED, details, message: details });
  };
  const pump = () => {
    while (out.open && room() > 0) {
      if (cursor + 1 < events.firstIndex()) {
        drop(events.lastIndex() - cursor);
        return;
      }
      const batch = events.since(cursor, room());
      if (batch.length === 0) return;
      for (const e of batch) {
        if (!out.write(e)) return;
        cursor = e.index;
      }
    }
  };
  const unsubscribe = events.subscribe(() => {
    if (!out.open) return unsubscribe();
    if (room() > 0) return pump();
    if (events.lastIndex() - cursor > maxBehind) drop(events.lastIndex() - cursor);
  });
  call.on("cancelled", unsubscribe);
  call.on("close", unsubscribe);
  call.on("error", unsubscribe);
  pump();
}
