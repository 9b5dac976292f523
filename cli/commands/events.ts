// yardctl events [-w] [--replay | --since INDEX]: one line per ClusterEvent.
import { status } from "@grpc/grpc-js";
import type { Command } from "commander";
import { isServiceError } from "../../common/errors.js";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { UsageError } from "../errors.js";
import { addClientOptions, print } from "../options.js";
import { formatEvent } from "../views.js";
import type { ClusterEvent } from "../../proto/gen/yard/v1/operator.js";

/**
 * Without --watch, the kept window is replayed and the command ends once the stream has
 * been quiet this long: the Watch stream has no "replay done" marker, and the replay comes
 * in one burst.
 */
const QUIET_MS = 500;

export function registerEvents(program: Command): void {
  addClientOptions(
    program
      .command("events")
      .description("print cluster events, one per line")
      .option("-w, --watch", "keep printing new events until Ctrl-C")
      .option("--replay", "with --watch: first print the events the master kept")
      .option(
        "--since <index>",
        "start at this event index (the #N of each line); fails if the master no longer keeps it",
      ),
  ).action(async (flags: Record<string, unknown>) => {
    const watch = flags.watch === true;
    const since = flags.since === undefined ? undefined : parseEventIndex(String(flags.since));
    if (since !== undefined && flags.replay === true) {
      throw new UsageError("--since and --replay: give one (--replay starts at the oldest event kept)");
    }
    const client = new OperatorClient(clientTarget(flags));
    const stop = new AbortController();
    let quiet: NodeJS.Timeout | undefined;
    const armQuiet = () => {
      if (watch) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => stop.abort(), QUIET_MS);
    };
    let last = 0;
    try {
      for (;;) {
        const open = () =>
          last > 0
            ? client.watch({ afterIndex: last, replay: false })
            : since !== undefined
              ? client.watch({ afterIndex: since - 1, replay: false, failIfGone: true })
              : client.watch({ afterIndex: 0, replay: !watch || flags.replay === true });
        armQuiet();
        try {
          const onEvent = (event: ClusterEvent) => {
            print(formatEvent(event));
            last = event.index;
            armQuiet();
            return undefined;
          };
          if (!watch) await client.consume(open, onEvent, stop.signal);
          else {
            // The events are the registry's, which every leader has: after a failover the
            // watch goes on from the next one, at the new leader.
            await client.consumeAcrossFailover(
              open,
              onEvent,
              (err) =>
                process.stderr.write(
                  `yardctl: the events stream ended (${err.details ?? "unavailable"}); resuming at the leader after event ${last}\n`,
                ),
              stop.signal,
            );
          }
          return;
        } catch (err) {
          // A watcher that fell too far behind is dropped by the master (RESOURCE_EXHAUSTED);
          // it resumes after the last event it printed, which the master still keeps.
          if (!(watch && last > 0 && isServiceError(err) && err.code === status.RESOURCE_EXHAUSTED)) {
            throw client.streamError(err);
          }
          process.stderr.write(`yardctl: fell behind the master's events; resuming after event ${last}\n`);
        }
      }
    } finally {
      clearTimeout(quiet);
      client.close();
    }
  });
}

/** An event index as --since takes it: a whole number from 1 on. */
export function parseEventIndex(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--since: "${value}" is not an event index (a whole number from 1 on)`);
  }
  return n;
}
