// How a process writes its log records: the choice of format and level from the environment.
// Pure, so that the rules can be tested without a terminal.

/** One JSON object per line (for collectors), or human-readable lines (for a terminal). */
export type LogFormat = "json" | "pretty";

/** Levels an operator may set with YARD_LOG_LEVEL; `silent` turns logging off. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * YARD_LOG_FORMAT=json|pretty wins; otherwise pretty on a terminal, JSON elsewhere. A value
 * that is neither is ignored rather than fatal: a typo must not stop a daemon from starting,
 * and the terminal rule still gives a sensible answer.
 */
export function chooseLogFormat(override: string | undefined, stderrIsTty: boolean): LogFormat {
  const wanted = override?.trim().toLowerCase();
  if (wanted === "json" || wanted === "pretty") return wanted;
  return stderrIsTty ? "pretty" : "json";
}

/** YARD_LOG_LEVEL, case-insensitive; anything else means info, as it always has. */
export function chooseLogLevel(value: string | undefined): LogLevel {
  const wanted = value?.trim().toLowerCase();
  return (LOG_LEVELS as readonly string[]).includes(wanted ?? "") ? (wanted as LogLevel) : "info";
}
