// A framework's durable state as a small ordered map of string keys to string values, the seam
// between a framework's own store and where the bytes live: one SQLite file (the default, one
// instance) or a prefix of etcd (several instances, one active; framework-leader.ts).
//
// Reads and writes are synchronous, against the local copy, so a framework's decisions stay
// plain code. What differs is when a write is durable: at once in SQLite, at the end of the
// event-loop turn in etcd (one batch, fenced by the active instance's leadership). A framework
// awaits durable() before it acts on what it wrote where a crash in between would matter
// (before launching a task it recorded; before telling a client "stored").

/** The keys of a state store sort as strings; numbers inside keys are padded (padKey). */
export interface StateKv {
  /** "sqlite" or "etcd": for logs and views, never for branching on behaviour. */
  readonly backend: string;
  get(key: string): string | undefined;
  /** Every entry whose key starts with `prefix`, sorted by key. */
  range(prefix: string): Array<[key: string, value: string]>;
  put(key: string, value: string): void;
  delete(key: string): void;
  deletePrefix(prefix: string): void;
  /** The writes of `fn` are stored together or not at all (one transaction). */
  unit<T>(fn: () => T): T;
  /**
   * Resolves once every write made so far is durable. Rejects with StateLostError when it never
   * will be: the instance lost its leadership (another one may be writing by now).
   */
  durable(): Promise<void>;
}

/**
 * The state store refuses writes for good: the instance that held it was deposed (its fenced
 * write was refused by etcd) or the store was closed. The instance must stop acting at once.
 */
export class StateLostError extends Error {
  override readonly name = "StateLostError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A non-negative integer as a fixed-width key part, so that keys sort as the numbers do. */
export function padKey(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${n} is not a key number`);
  return String(n).padStart(16, "0");
}

/** A free-form name as one key part: "/" and "%" cannot split or confuse keys. */
export function keyPart(name: string): string {
  return name.replace(/[%/]/g, (c) => (c === "%" ? "%25" : "%2F"));
}
