// A byte rate limit (the agent's --bt-upload-rate / --bt-download-rate). Tokens accrue at
// `rate` bytes per second up to one second's worth; taking more than there are runs a debt
// that later takers wait out. A whole block is taken at once, so a 1 MiB block at 1 MiB/s
// waits one second before it goes, and the average holds to the rate.
export class TokenBucket {
  private tokens: number;
  private at: number;

  /** `rate` in bytes per second; 0 or less: unlimited. */
  constructor(
    private readonly rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = Math.max(rate, 0);
    this.at = now();
  }

  get limited(): boolean {
    return this.rate > 0;
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
  }

  /** Milliseconds until a taker may go (0: now). */
  waitMs(): number {
    if (!this.limited) return 0;
    this.refill();
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }

  take(bytes: number): void {
    if (!this.limited) return;
    this.refill();
    this.tokens -= bytes;
  }
}
