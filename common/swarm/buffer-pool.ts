// Reuses the large buffers of the hot path (a piece as it arrives, a piece read to be served).
// A fresh 1 MiB buffer costs the kernel 256 zeroed pages and as many faults every time, and
// the allocator hands such sizes back to the system once freed: measured on the distribution
// benchmark, page clearing alone was an eighth of all CPU before this pool. Buffers are kept
// per size (a torrent has two: its pieces and its last piece, plus the 9-byte message header).
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();

  /** `keep`: how many free buffers of one size are kept at most. */
  constructor(private readonly keep = 32) {}

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
    if (list.length < this.keep) list.push(buf);
  }
}
