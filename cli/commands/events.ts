// yardctl events [-w] [--replay]: one line per ClusterEvent.
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { addClientOptions, print } from "../options.js";
import { consume } from "../streams.js";
import { formatEvent } from "../views.js";

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
      .option("--replay", "with --watch: first print the events the master kept"),
  ).action(async (flags: Record<string, unknown>) => {
    const watch = flags.watch === true;
    const client = new OperatorClient(clientTarget(flags));
    const stop = new AbortController();
    let quiet: NodeJS.Timeout | undefined;
    const armQuiet = () => {
      if (watch) return;
      clearTimeout(quiet);
      quiet = setTimeout(() => stop.abort(), QUIET_MS);
    };
    try {
      await client.ready();
      const stream = client.watch({ afterIndex: 0, replay: !watch || flags.replay === true });
      armQuiet();
      await consume(
        stream,
        (event) => {
          print(formatEvent(event));
          armQuiet();
          return undefined;
        },
        stop.signal,
      ).catch((err: unknown) => {
        throw client.streamError(err);
      });
    } finally {
      clearTimeout(quiet);
      client.close();
    }
  });
}
