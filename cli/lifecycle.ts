// Helpers for the foreground daemons (up, master, agent, batch): port checks before
// binding, waiting for Ctrl-C, and polling for a daemon to get its id.
import { CliError, ExitCode } from "./errors.js";
import { createServer } from "node:net";
import { errnoSentence } from "./errno-text.js";

/**
 * Fails with one clear line when host:port is taken. Checked before the daemons start so
 * that the message names the flag; port 0 (any free port) is never checked.
 */
export async function assertPortFree(host: string, port: number, flag: string): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const server = createServer();
    server.once("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EADDRINUSE") {
        reject(
          new CliError(
            `port ${port} on ${host} is already in use (${flag}); stop what holds it or choose another with ${flag}`,
            ExitCode.FAILURE,
          ),
        );
      } else if (err.code === "EACCES") {
        reject(new CliError(`no permission to listen on ${host}:${port} (${flag})`, ExitCode.FAILURE));
      } else {
        reject(
          new CliError(`cannot listen on ${host}:${port} (${flag}): ${errnoSentence(err)}`, ExitCode.FAILURE),
        );
      }
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve()));
  });
}

/**
 * Resolves with the first SIGINT or SIGTERM. A second one while shutting down exits at
 * once (130), for a daemon whose stop hangs.
 */
export function waitForSignal(onSecond?: (sig: NodeJS.Signals) => void): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const handler = (sig: NodeJS.Signals) => {
      if (seen) {
        onSecond?.(sig);
        process.exit(ExitCode.INTERRUPTED);
      }
      seen = true;
      resolve(sig);
    };
    process.on("SIGINT", handler);
    process.on("SIGTERM", handler);
  });
}

/** Polls `get` every 50 ms until it returns a value or `timeoutMs` passes. */
export async function pollFor<T>(get: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined || Date.now() >= until) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}
