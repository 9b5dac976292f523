// A small seeded pseudo-random generator (mulberry32), so that the allocator's agent order is
// random enough to spread offers and still replays exactly for the same seed and the same calls.
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Shuffles a[0..length) in place (Fisher-Yates). */
  shuffle<T>(a: T[], length = a.length): void {
    for (let i = length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      const x = a[i]!;
      a[i] = a[j]!;
      a[j] = x;
    }
  }
}
