// Reuses the large buffers of the hot path (a piece as it arrives, a piece read to be served).
// A fresh 1 MiB buffer costs the kernel 256 zeroed pages and as many faults every time, and
// the allocator hands such sizes back to the system once freed: measured on the distribution
// benchmark, page clearing alone was an eighth of all CPU before this pool. Buffers are kept
// per size (a torrent has two: its pieces and its last piece, plus the 9-byte message header).
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  /**
   * `keepBytes`: how much free memory of one size is kept at most (and at least two buffers):
   * the pool is sized to what is in flight (8 recent pieces, the blocks arriving, the sends),
   * and an agent's memory belongs to its services once a staging is over.
   */
  constructor(private readonly keepBytes = 32 * 1024 * 1024) {}

  acquire(size: number): Buffer {
    return this.free.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);
  }

  /** Gives `buf` back; nothing may use it any more. */
  release(buf: Buffer): void {
    let list = this.free.get(buf.length);
    if (!list) {
      list = [];
      this.free.set(buf.length, list);
    }
    if (list.length < Math.max(2, Math.floor(this.keepBytes / buf.length))) list.push(buf);
  }
}
