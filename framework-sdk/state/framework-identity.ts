// The framework id the master issued and the secret that proves it (docs/framework-guide.md),
// kept together in a framework's store: both set, or both gone. Stores built on a StateKv or on
// a SQLite meta table share this instead of each writing the two keys their own way.
import type { StateKv } from "./state-kv.js";

/** A table of string values by key; set(key, undefined) deletes. */
export interface IdentityTable {
  get(key: string): string | undefined;
  set(key: string, value: string | undefined): void;
}

export class FrameworkIdentity {
  /**
   * `prefix` goes before the key names ("meta/" in a StateKv); `together` runs the two writes
   * as one transaction.
   */
  constructor(
    private readonly table: IdentityTable,
    private readonly together: (writes: () => void) => void,
    private readonly prefix = "",
  ) {}

  /** On a StateKv: the keys meta/framework_id and meta/framework_secret, written in one unit. */
  static onStateKv(kv: StateKv): FrameworkIdentity {
    return new FrameworkIdentity(
      { get: (k) => kv.get(k), set: (k, v) => (v === undefined ? kv.delete(k) : kv.put(k, v)) },
      (writes) => kv.unit(writes),
      "meta/",
    );
  }

  frameworkId(): string | undefined {
    return this.table.get(`${this.prefix}framework_id`);
  }

  /** Never logged. */
  frameworkSecret(): string | undefined {
    return this.table.get(`${this.prefix}framework_secret`);
  }

  /** Keeps the id with its secret; an undefined id forgets both. */
  setFrameworkId(id: string | undefined, secret?: string): void {
    this.together(() => {
      this.table.set(`${this.prefix}framework_id`, id || undefined);
      this.table.set(`${this.prefix}framework_secret`, id && secret ? secret : undefined);
    });
  }
}
