// The state store backend of a framework run as several instances: a prefix of etcd
// (`<prefix>/frameworks/<name>/state/`) mirrored in memory by MirroredKv. Every instance
// follows it (a standby's copy is warm); the active one is promoted with its leadership key as
// the fence, so each of its writes is an etcd transaction that fails once it no longer leads.
// Writes are batched per event-loop turn; durable() waits for them.
import type { Etcd3 } from "etcd3";
import { type Fence, MirroredKv } from "../../common/etcd/mirrored-kv.js";
import type { Logger } from "../../common/logger.js";
import { type StateKv, StateLostError } from "./state-kv.js";

export interface EtcdStateKvInit {
  client: Etcd3;
  /** The etcd key prefix of this framework's state, e.g. "/yard/frameworks/service/state/". */
  prefix: string;
  logger: Logger;
}

export class EtcdStateKv implements StateKv {
  readonly backend = "etcd";
  /** Settles once, when the store refuses writes for good (fence lost, or closed). */
  readonly lost: Promise<StateLostError>;
  private lostError: StateLostError | undefined;
  private markLost!: (err: StateLostError) => void;
  private droppedLogged = false;

  private constructor(
    private readonly kv: MirroredKv,
    private readonly log: Logger,
  ) {
    this.lost = new Promise((resolve) => {
      this.markLost = (err) => {
        if (this.lostError) return;
        this.lostError = err;
        resolve(err);
      };
    });
    kv.onFenceLost = (err) =>
      this.markLost(
        new StateLostError("the state store was written by another instance's leadership", { cause: err }),
      );
  }

  /** Loads the prefix and follows it (read-only) until promote(). */
  static async open(init: EtcdStateKvInit): Promise<EtcdStateKv> {
    const kv = await MirroredKv.open({ client: init.client, prefix: init.prefix, logger: init.logger });
    return new EtcdStateKv(kv, init.logger);
  }

  /** Catches up to the fence's revision and accepts writes, each fenced by `fence`. */
  promote(fence: Fence): Promise<void> {
    return this.kv.promote(fence);
  }

  /** The etcd revision the local copy reflects. */
  get revision(): string {
    return this.kv.revision;
  }

  get(key: string): string | undefined {
    return this.kv.get(key);
  }

  range(prefix: string): Array<[string, string]> {
    return this.kv.range(prefix);
  }

  put(key: string, value: string): void {
    if (this.writable()) this.kv.put(key, value);
  }

  delete(key: string): void {
    if (this.writable()) this.kv.delete(key);
  }

  deletePrefix(prefix: string): void {
    if (this.writable()) this.kv.deletePrefix(prefix);
  }

  unit<T>(fn: () => T): T {
    // Deposed: fn runs and its writes are dropped one by one (see writable()).
    return this.lostError ? fn() : this.kv.unit(fn);
  }

  durable(): Promise<void> {
    if (this.lostError) return Promise.reject(this.lostError);
    const flushed = this.kv.flush().catch((err: unknown) => {
      throw this.lostError ?? new StateLostError("the state store refused the write", { cause: err });
    });
    return Promise.race([
      flushed,
      this.lost.then((err) => {
        throw err;
      }),
    ]);
  }

  async close(): Promise<void> {
    this.markLost(new StateLostError("the state store is closed"));
    await this.kv.close();
  }

  /**
   * After the fence is lost nothing more can be stored: writes are dropped (the instance is
   * stopping; durable() rejects so that nothing is acted on), rather than thrown into the
   * timers of a framework that is being shut down.
   */
  private writable(): boolean {
    if (!this.lostError) return true;
    if (!this.droppedLogged) {
      this.droppedLogged = true;
      this.log.warn("state writes dropped: this instance no longer leads", { err: this.lostError });
    }
    return false;
  }
}
