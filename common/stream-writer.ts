// Writes to a gRPC server stream without ever buffering without bound. grpc-js queues whatever
// is written to a call whose client does not read (a stalled `yardctl events -w`, a paused log
// follower), so a daemon that ignores `write()` returning false grows for as long as the
// client stays connected. Every server stream of Yard writes through a StreamWriter:
//   - "queue" streams (events, log chunks, framework events) keep what was written, up to a
//     bound of messages and bytes that wait for the client; past it the stream ends with
//     RESOURCE_EXHAUSTED and a message that says how to resume (the client reconnects from
//     its last index: nothing is lost, memory stays bounded);
//   - "latest" streams (status snapshots: a deployment, a job, a staging) keep only the newest
//     snapshot while the client is behind, and send it once the stream drains: a slow
//     watcher sees fewer intermediate states, never a stale last one, and is never dropped.
// The pending count is exact: a message stops counting when grpc-js hands it to HTTP/2, which
// it does only inside the client's flow-control window.
import { status } from "@grpc/grpc-js";

/** The part of a grpc-js ServerWritableStream (or duplex) a writer needs. */
export interface WritableCall<T> {
  write(msg: T, cb?: (err?: Error | null) => void): boolean;
  end(): void;
  emit(event: "error", err: unknown): boolean;
  on(event: "drain" | "close" | "finish" | "cancelled", cb: () => void): unknown;
}

export interface StreamWriterOptions<T> {
  /** "queue" (default): every message matters; "latest": only the newest one does. */
  mode?: "queue" | "latest";
  /** Most messages waiting for the client before a "queue" stream is ended (default 5,000). */
  maxMessages?: number;
  /** Most bytes waiting for the client before a "queue" stream is ended (default 8 MiB). */
  maxBytes?: number;
  /** A message's size for `maxBytes`; messages count 0 bytes without it. */
  sizeOf?: (msg: T) => number;
  /**
   * The status details when a "queue" stream falls past its bound, e.g. "watcher too slow:
   * 1000 events behind; reconnect with after_index=42".
   */
  tooSlow?: (behind: number) => string;
  /** Called once when the stream is ended for being too slow (for logs and counters). */
  onOverflow?: (details: string) => void;
  /** Called when the client catches up after `write()` reported it behind. */
  onDrain?: () => void;
  /** Called each time a message is handed to HTTP/2 (the pending count just went down). */
  onSent?: () => void;
  /** The daemon's set of open streams, which its stop() ends. */
  openStreams?: OpenStreams;
}

/**
 * The server streams a daemon has open, so that its stop() can end them (a watcher never
 * ends by itself, and grpc-js's tryShutdown waits for every call).
 */
export class OpenStreams {
  private readonly streams = new Set<StreamWriter<unknown>>();

  add(w: StreamWriter<any>): void {
    this.streams.add(w);
  }

  delete(w: StreamWriter<any>): void {
    this.streams.delete(w);
  }

  get size(): number {
    return this.streams.size;
  }

  /** Ends every open stream with UNAVAILABLE and `details` (clients reconnect elsewhere or later). */
  endAll(details: string): void {
    for (const w of [...this.streams]) w.fail({ code: status.UNAVAILABLE, details, message: details });
    this.streams.clear();
  }
}

export const DEFAULT_MAX_PENDING_MESSAGES = 5_000;
export const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;

export class StreamWriter<T> {
  private pendingMessages = 0;
  private pendingBytes = 0;
  private waitingForDrain = false;
  /** In "latest" mode: the snapshot to send at the next drain. */
  private held: { msg: T } | undefined;
  private done = false;

  constructor(
    private readonly call: WritableCall<T>,
    private readonly opts: StreamWriterOptions<T> = {},
  ) {
    opts.openStreams?.add(this);
    const over = () => {
      this.done = true;
      this.held = undefined;
      opts.openStreams?.delete(this);
    };
    call.on("close", over);
    call.on("finish", over);
    call.on("cancelled", over);
    call.on("drain", () => this.drained());
  }

  /** False once the stream has ended (finished, cancelled, or dropped for being too slow). */
  get open(): boolean {
    return !this.done;
  }

  /** True while the client is behind: a source that can wait should pause until onDrain. */
  get behind(): boolean {
    return this.waitingForDrain;
  }

  /** Messages and bytes written but not yet taken by HTTP/2. */
  pending(): { messages: number; bytes: number } {
    return { messages: this.pendingMessages, bytes: this.pendingBytes };
  }

  /**
   * Sends `msg`, or holds it within the bounds. Returns false when the stream is over (it was
   * ended now for being too slow, or before): the caller stops producing for it.
   */
  write(msg: T): boolean {
    if (this.done) return false;
    if (this.opts.mode === "latest" && this.waitingForDrain) {
      this.held = { msg };
      return true;
    }
    return this.send(msg);
  }

  private send(msg: T): boolean {
    const size = this.opts.sizeOf?.(msg) ?? 0;
    const maxMessages = this.opts.maxMessages ?? DEFAULT_MAX_PENDING_MESSAGES;
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_PENDING_BYTES;
    if (this.pendingMessages >= maxMessages || this.pendingBytes + size > maxBytes) {
      // The first message always goes out, whatever its size: the bound is on the backlog.
      if (this.pendingMessages > 0) {
        this.overflow();
        return false;
      }
    }
    this.pendingMessages++;
    this.pendingBytes += size;
    const ok = this.call.write(msg, () => {
      this.pendingMessages--;
      this.pendingBytes -= size;
      if (!this.done) this.opts.onSent?.();
    });
    if (!ok) this.waitingForDrain = true;
    return true;
  }

  /** Ends the stream with OK once what is pending is sent. */
  end(): void {
    if (this.done) return;
    this.flushHeld();
    this.done = true;
    this.opts.openStreams?.delete(this);
    this.call.end();
  }

  /** Ends the stream with an error status (a grpc-js status object or a typed error). */
  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    this.held = undefined;
    this.opts.openStreams?.delete(this);
    this.call.emit("error", err);
  }

  private flushHeld(): void {
    const held = this.held;
    this.held = undefined;
    if (held) this.send(held.msg);
  }

  private drained(): void {
    this.waitingForDrain = false;
    if (this.done) return;
    this.flushHeld();
    if (!this.waitingForDrain) this.opts.onDrain?.();
  }

  private overflow(): void {
    const behind = this.pendingMessages;
    const details = this.opts.tooSlow?.(behind) ?? `client too slow: ${behind} messages behind`;
    this.opts.onOverflow?.(details);
    this.done = true;
    this.held = undefined;
    this.opts.openStreams?.delete(this);
    // The status follows the messages already queued: a client that resumes reads them, then
    // this status, and knows where to resume from. Emitted on the next turn, because write()
    // is called from inside the producer's own bookkeeping (the master's send to a link),
    // which the call's "error" listeners would re-enter.
    setImmediate(() =>
      this.call.emit("error", { code: status.RESOURCE_EXHAUSTED, details, message: details }),
    );
  }
}
