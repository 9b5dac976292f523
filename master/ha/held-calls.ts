// Calls that reach a master while it takes over (it won the election, its gate is not open
// yet) wait here instead of being refused, and are let through in slices once the takeover
// ends: the services that must serve first (the frameworks' scheduler calls) before the
// fleet's agents, and a slice per turn of the event loop, so that a thousand agent streams
// let through at once do not hold the loop (and the leader's lease keepalives) for seconds.

/** Lower goes first. */
export type CallPriority = number;

interface Held {
  priority: CallPriority;
  seq: number;
  release: () => void;
}

export interface HeldCallsOptions {
  /** Calls let through per turn of the event loop. */
  sliceSize?: number;
  /** A call waits at most this long, then goes on (and is refused if the gate is still shut). */
  maxWaitMs: number;
}

export class HeldCalls {
  #held: Held[] = [];
  #seq = 0;
  #holding = false;
  readonly #sliceSize: number;
  readonly #maxWaitMs: number;

  constructor(opts: HeldCallsOptions) {
    this.#sliceSize = opts.sliceSize ?? 32;
    this.#maxWaitMs = opts.maxWaitMs;
  }

  /** From now on calls are held (a takeover began). */
  hold(): void {
    this.#holding = true;
  }

  /** Whether calls are held now. */
  get holding(): boolean {
    return this.#holding;
  }

  /**
   * A promise for a call arriving now, settled when it may go on; undefined when nothing is
   * held (the caller serves or refuses at once).
   */
  wait(priority: CallPriority): Promise<void> | undefined {
    if (!this.#holding) return undefined;
    return new Promise<void>((resolve) => {
      const entry: Held = {
        priority,
        seq: this.#seq++,
        release: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#held = this.#held.filter((h) => h !== entry);
        resolve();
      }, this.#maxWaitMs);
      this.#held.push(entry);
    });
  }

  /**
   * The takeover ended (opened the gate or failed): lets every held call go, in slices. With
   * `settled`, the calls of the first priority go alone, and the others once the promise it
   * returns settles (what the first ones wrote is stored, say), so that the first ones'
   * answers do not queue behind the rest.
   */
  release(settled?: () => Promise<unknown>): void {
    this.#holding = false;
    const queue = this.#held.sort((a, b) => a.priority - b.priority || a.seq - b.seq);
    this.#held = [];
    const split = settled ? queue.findIndex((h) => h.priority !== queue[0]!.priority) : -1;
    if (split <= 0) {
      this.#inSlices(queue);
      return;
    }
    this.#inSlices(queue.slice(0, split), () => {
      settled!().finally(() => this.#inSlices(queue.slice(split)));
    });
  }

  /** Releases `calls`, a slice now and one per turn of the event loop after; then `done`. */
  #inSlices(calls: Held[], done?: () => void): void {
    const next = (from: number) => {
      const to = Math.min(calls.length, from + this.#sliceSize);
      for (let i = from; i < to; i++) calls[i]!.release();
      if (to < calls.length) setImmediate(() => next(to));
      // A turn later: the released calls' handlers (microtasks) have run by then.
      else if (done) setImmediate(done);
    };
    next(0);
  }
}
