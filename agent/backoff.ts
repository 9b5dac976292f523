// Exponential backoff with jitter for reconnecting to the master: 200 ms doubling to 5 s.
// The jitter keeps a fleet of agents that lost the same master from reconnecting in lockstep.
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly initialMs = 200,
    private readonly maxMs = 5000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay: the current step scaled into [50%, 100%] of itself. */
  next(): number {
    const step = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    if (step < this.maxMs) this.attempt++;
    return Math.round(step * (0.5 + 0.5 * this.random()));
  }

  reset(): void {
    this.attempt = 0;
  }
}
