// Serves one OperatorService.Watch. The watcher's backlog is a cursor into the master's event
// log (which is kept anyway), not a queue of its own: events are written only while the
// client keeps up, and the rest wait in the log. A client that stops reading is dropped with
// RESOURCE_EXHAUSTED once `maxBehind` events arrived since it fell behind, or as soon as the
// events it still needs leave the log's window; the message names the index to resume after.
import { type ServerWritableStream, status } from "@grpc/grpc-js";
import type { Logger } from "../../common/logger.js";
import { type OpenStreams, StreamWriter } from "../../common/stream-writer.js";
import type { ClusterEvent, WatchRequest } from "../../proto/gen/yard/v1/operator.js";
import type { EventLog } from "../event-log.js";

/** Events written per turn of the pump before it yields to the stream's own back-pressure. */
const BATCH = 64;

export function watchEvents(
  events: EventLog,
  call: ServerWritableStream<WatchRequest, ClusterEvent>,
  opts: { afterIndex: number; maxBehind: number; openStreams: OpenStreams; log: Logger },
): void {
  const { maxBehind, log } = opts;
  // A reconnect after the window moved on starts at the oldest event still kept.
  let cursor = Math.max(opts.afterIndex, events.firstIndex() - 1);
  let arrivedWhileBehind = 0;
  const out = new StreamWriter<ClusterEvent>(call, {
    openStreams: opts.openStreams,
    onDrain: () => {
      arrivedWhileBehind = 0;
      pump();
    },
  });
  const drop = (behind: number) => {
    const details = `watcher too slow: ${behind} events behind; reconnect with after_index=${cursor}`;
    log.warn("dropped a slow event watcher", { peer: call.getPeer(), behind });
    unsubscribe();
    out.fail({ code: status.RESOURCE_EXHAUSTED, details, message: details });
  };
  const pump = () => {
    while (out.open && !out.behind) {
      if (cursor + 1 < events.firstIndex()) {
        drop(events.lastIndex() - cursor);
        return;
      }
      const batch = events.since(cursor, BATCH);
      if (batch.length === 0) return;
      for (const e of batch) {
        if (!out.write(e)) return;
        cursor = e.index;
        if (out.behind) return;
      }
    }
  };
  const unsubscribe = events.subscribe(() => {
    if (!out.open) return unsubscribe();
    if (!out.behind) return pump();
    arrivedWhileBehind++;
    if (arrivedWhileBehind > maxBehind) drop(events.lastIndex() - cursor);
  });
  call.on("cancelled", unsubscribe);
  call.on("close", unsubscribe);
  call.on("error", unsubscribe);
  pump();
}
