// A small seeded pseudo-random generator (mulberry32), for choices that must look random and
// still replay exactly for the same seed and the same calls: the allocator's agent order (to
// spread offers) and the swarm core's tie-breaks (seeded by the engine from the info hash and
// the peer id, say), so that a test or a post-mortem replays the same choices.

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

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles items[0..length) in place (Fisher–Yates) and returns `items`. */
  shuffle<T>(items: T[], length = items.length): T[] {
    for (let i = length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}

/** A 32-bit seed from a string (FNV-1a), to derive a seed from an info hash and a peer id. */
export function seedFrom(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
