// The simulator's clock: a binary heap of events by time; events at the same time run in the
// order they were scheduled, so a run is deterministic.

export interface Scheduled<E> {
  at: number;
  seq: number;
  event: E;
}

export class EventQueue<E> {
  private readonly heap: Scheduled<E>[] = [];
  private seq = 0;
  now = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `event` `delay` ms from now (never in the past). */
  after(delay: number, event: E): void {
    this.at(this.now + Math.max(0, delay), event);
  }

  at(time: number, event: E): void {
    const h = this.heap;
    const item = { at: Math.max(time, this.now), seq: this.seq++, event };
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = item;
  }

  /** The next event, with the clock moved to its time; undefined when none is left. */
  pop(): E | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    this.now = top.at;
    return top.event;
  }
}

function before<E>(a: Scheduled<E>, b: Scheduled<E>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
