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

/**
 * Backoff per key (an app, a job) for retries a framework makes on its own, such as launches
 * the master refused: the first failure waits `initialMs`, each further one twice as long up
 * to `maxMs`, and a success forgets the key. Pure: the caller passes the clock.
 */
export class RetryBackoff<K = string> {
  private readonly keys = new Map<K, { step: number; untilMs: number }>();

  constructor(
    private readonly opts: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether `key` may be tried at `nowMs` (no failure, or its wait is over). */
  ready(key: K, nowMs: number): boolean {
    const s = this.keys.get(key);
    return !s || nowMs >= s.untilMs;
  }

  /** When `key` may be tried again, or undefined when it is not backing off. */
  readyAt(key: K): number | undefined {
    return this.keys.get(key)?.untilMs;
  }

  /** Records a failure at `nowMs`; returns the wait before the next try and its step (1-based). */
  failed(key: K, nowMs: number): { delayMs: number; step: number } {
    const step = (this.keys.get(key)?.step ?? 0) + 1;
    const delayMs = backoffDelay(step - 1, this.opts, this.random);
    this.keys.set(key, { step, untilMs: nowMs + delayMs });
    return { delayMs, step };
  }

  /** Records a success: the next failure starts from `initialMs` again. True if it was backing off. */
  succeeded(key: K): boolean {
    return this.keys.delete(key);
  }
}
