// While a command waits on work the cluster has not placed yet (`yardctl run`,
// `deploy --watch`), it asks the master why (OperatorService.Explain) every few seconds and
// prints the reason on stderr when it changes: a job that cannot be placed says so instead of
// hanging in silence.
import type { OperatorClient } from "./clients.js";
import { pendingSummary } from "./explain-view.js";

const POLL_MS = 2_000;

/** Starts the notices for `kind/name`; call the returned function to stop them. */
export function noticePending(
  operator: OperatorClient,
  kind: "job" | "app",
  name: string,
  write: (line: string) => void = (line) => process.stderr.write(`yardctl: ${line}\n`),
): () => void {
  let last: string | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const poll = async () => {
    try {
      const summary = pendingSummary(await operator.explain({ kind, name, frameworkId: "" }));
      if (!stopped && summary !== undefined && summary !== last) write(summary);
      if (summary !== undefined) last = summary;
    } catch {
      // A master that does not answer now says so elsewhere; the notice is a courtesy.
    }
    if (!stopped) timer = setTimeout(poll, POLL_MS).unref();
  };
  timer = setTimeout(poll, POLL_MS).unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
