// Reconnect delays: exponential from `initialMs` to `maxMs`, with ±20% jitter so that the
// frameworks of a restarted master do not all come back in the same millisecond.

export interface BackoffOptions {
  /** First delay, default 200 ms. */
  initialMs?: number;
  /** Largest delay, default 5 s. */
  maxMs?: number;
}

/** The delay before retry number `attempt` (0-based). `random` is injectable for tests. */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random) {
  const initial = opts.initialMs ?? 200;
  const max = opts.maxMs ?? 5_000;
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.min(max, Math.round(base * (0.8 + 0.4 * random())));
}
