// How many requests to keep outstanding on one connection, and how large each is.
//
// - Block size per peer capability: standard clients take 16 KiB blocks (larger requests are
//   commonly refused). Two Yard peers agree on larger ones in the BEP 10 extended handshake:
//   each advertises the largest block it serves (`yard_block`, at least 256 KiB), and they use
//   the smaller of the two, at most a whole piece. Each block costs a request, a selection, a
//   message header and a write: 64 KiB–1 MiB blocks cut that per-block work 4–64× against
//   16 KiB (docs/benchmarks.md, the profiles of the distribution benchmark).
// - Depth sized to the bandwidth-delay product: a connection stays busy when the requests in
//   flight cover rate × RTT, plus one block being sent: depth = ceil(rate × rtt / block) + 1,
//   between `minDepth` and `maxDepth`. The rate is measured on the answers (a window of
//   `windowMs`, smoothed); the RTT is the smallest the engine reported (a request answered
//   from an idle pipeline), since larger ones include the queue that this depth creates.
// - A request is timed out after the time its queue should take plus a margin: outstanding
//   blocks at the measured rate, plus 2 RTT, at least `minTimeoutMs`.
// Pure: the engine reports sends, answers, failures and RTT samples with its clock's `now`.

export const STANDARD_BLOCK_BYTES = 16 * 1024;
export const MIN_LARGE_BLOCK_BYTES = 256 * 1024;

/**
 * The block size for a connection: `ours` and `theirs` are the largest blocks each side serves
 * as advertised in the extended handshake (undefined: a standard client, or no handshake).
 */
export function negotiateBlockBytes(
  ours: number | undefined,
  theirs: number | undefined,
  pieceLength: number,
) {
  if (ours === undefined || theirs === undefined) return STANDARD_BLOCK_BYTES;
  const agreed = Math.min(ours, theirs, pieceLength);
  // Below the large-block floor the extension brings nothing over the standard size.
  if (agreed < MIN_LARGE_BLOCK_BYTES && agreed < pieceLength) return STANDARD_BLOCK_BYTES;
  return agreed;
}

export interface RequestPipelineInit {
  blockBytes: number;
  /** Fewest requests in flight (default 2: one being answered, one queued behind it; 1 for large blocks). */
  minDepth?: number;
  maxDepth?: number;
  /** Rate assumed before the first measurement, bytes/s (default 0: minDepth). */
  initialRate?: number;
  /** RTT assumed before the first sample (default 50 ms). */
  initialRttMs?: number;
  windowMs?: number;
  minTimeoutMs?: number;
}

export class RequestPipeline {
  readonly blockBytes: number;
  private readonly minDepth: number;
  private readonly maxDepth: number;
  private readonly windowMs: number;
  private readonly minTimeoutMs: number;
  private outstanding = 0;
  private rate: number;
  private rttMs: number;
  private sampledRtt = false;
  private windowStart: number | undefined;
  private windowBytes = 0;

  constructor(init: RequestPipelineInit) {
    if (!(init.blockBytes > 0)) throw new RangeError(`block size ${init.blockBytes}`);
    this.blockBytes = init.blockBytes;
    // One large block in flight already keeps a link busy for a while; 16 KiB ones need two.
    this.minDepth = init.minDepth ?? (init.blockBytes >= MIN_LARGE_BLOCK_BYTES ? 1 : 2);
    this.maxDepth = init.maxDepth ?? 256;
    this.rate = init.initialRate ?? 0;
    this.rttMs = init.initialRttMs ?? 50;
    this.windowMs = init.windowMs ?? 1000;
    this.minTimeoutMs = init.minTimeoutMs ?? 5000;
  }

  /** Requests to keep in flight. */
  depth(): number {
    const bdp = Math.ceil((this.rate * this.rttMs) / 1000 / this.blockBytes) + 1;
    return Math.max(this.minDepth, Math.min(this.maxDepth, bdp));
  }

  /** How many more requests to send now. */
  room(): number {
    return Math.max(0, this.depth() - this.outstanding);
  }

  inFlight(): number {
    return this.outstanding;
  }

  /** The measured rate, bytes/s. */
  bytesPerSecond(): number {
    return this.rate;
  }

  sent(count = 1): void {
    this.outstanding += count;
  }

  /** A request was answered with `bytes` at `now`. */
  answered(bytes: number, now: number): void {
    this.outstanding = Math.max(0, this.outstanding - 1);
    if (this.windowStart === undefined) {
      this.windowStart = now;
      this.windowBytes = 0;
      return;
    }
    this.windowBytes += bytes;
    const elapsed = now - this.windowStart;
    if (elapsed >= this.windowMs) {
      const measured = (this.windowBytes * 1000) / elapsed;
      this.rate = this.rate > 0 ? (this.rate + measured) / 2 : measured;
      this.windowStart = now;
      this.windowBytes = 0;
    }
  }

  /** A request will not be answered (timed out, rejected, cancelled, choked). */
  dropped(count = 1): void {
    this.outstanding = Math.max(0, this.outstanding - count);
  }

  /** A round-trip measured by the engine (a request answered from an idle pipeline, a ping). */
  rttSample(ms: number): void {
    if (!(ms >= 0)) return;
    this.rttMs = this.sampledRtt ? Math.min(this.rttMs, ms) : ms;
    this.sampledRtt = true;
  }

  /** How long a request may wait for its answer before it is handed to another peer. */
  timeoutMs(): number {
    const queue = this.rate > 0 ? ((this.outstanding * this.blockBytes) / this.rate) * 1000 : 0;
    return Math.max(this.minTimeoutMs, queue + 2 * this.rttMs);
  }
}

/**
 * The torrent-wide cap on requests in flight, over all connections. Per-connection depths alone
 * overshoot with large blocks: 50 peers × 2 whole pieces would ask for 100 MiB at once, queue
 * it behind one download link, and enter endgame (duplicates) from the first second. The cap
 * is what the download link moves in `queueMs` (default 500 ms), in blocks, at least `min`.
 */
export function requestBudget(
  downloadBytesPerSecond: number,
  blockBytes: number,
  queueMs = 500,
  min = 4,
): number {
  return Math.max(min, Math.ceil((downloadBytesPerSecond * queueMs) / 1000 / blockBytes));
}
