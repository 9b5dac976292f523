// This master's entry under `<prefix>/masters/<id>`, bound to a lease of its own (not the
// election's: a master that loses an election still runs). If the lease is lost (etcd down
// past the TTL), a new one is granted and the entry written again once etcd answers.
import type { Etcd3, Lease } from "etcd3";
import type { Logger } from "../../common/logger.js";
import type { MasterRecord } from "./masters-view.js";

export class MasterRegistration {
  #lease?: Lease;
  #record: MasterRecord;
  #closed = false;
  #retry?: NodeJS.Timeout;

  constructor(
    private readonly client: Etcd3,
    private readonly key: string,
    private readonly ttlSeconds: number,
    private readonly logger: Logger,
    record: MasterRecord,
  ) {
    this.#record = record;
  }

  /** Writes the entry; resolves once etcd has it (retries are then in the background). */
  async start(): Promise<void> {
    await this.#put();
  }

  /** Changes the role shown (since = now). */
  update(role: MasterRecord["role"]): void {
    this.#record = { ...this.#record, role, since: Date.now() / 1000 };
    this.#put().catch((err) => {
      this.logger.warn("cannot update this master's entry in etcd; retrying", { err });
      this.#schedule();
    });
  }

  /** Deletes the entry (revokes its lease). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retry);
    await this.#lease?.revoke({ deadline: Date.now() + 2_000 }).catch(() => undefined);
  }

  #grant(): Lease {
    if (this.#lease && !this.#lease.revoked()) return this.#lease;
    const lease = this.client.lease(this.ttlSeconds);
    lease.on("lost", (err) => {
      if (this.#closed || this.#lease !== lease) return;
      this.logger.warn("this master's entry in etcd lost its lease; writing it again", {
        err,
      });
      this.#lease = undefined;
      this.#schedule();
    });
    this.#lease = lease;
    return lease;
  }

  async #put(): Promise<void> {
    if (this.#closed) return;
    await this.#grant().put(this.key).value(JSON.stringify(this.#record)).exec();
  }

  #schedule(): void {
    if (this.#closed || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#put().catch(() => this.#schedule());
    }, 500);
    this.#retry.unref();
  }
}
