// The leader's side of release replication (HA; docs/ha.md, "Releases in HA"): it records its
// own copy of each release it holds (with the torrent standbys fetch by), makes a push wait
// until enough standbys hold a verified copy, reports the copies in release listings, and
// forgets the copies of a removed release. The release manager calls it through the
// `ReleaseReplication` hooks; a single master has none, and pushes return as they always did.
import { FailedPreconditionError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { Release } from "../../proto/gen/yard/v1/release.js";
import type { ReleaseCopies } from "./release-copies.js";

/** What the release manager asks of replication; absent on a single master. */
export interface ReleaseReplication {
  /** This master holds `release`, verified: record its copy (idempotent). */
  held(release: Release, torrent: Buffer): Promise<void>;
  /** This master's copy of `key` is no longer sound: stop counting it. */
  lost(key: string): Promise<void>;
  /** Resolves once enough other masters hold `key`; throws UnderReplicatedError at the deadline. */
  waitForCopies(key: string): Promise<void>;
  /** Copies of `key` on other masters, and how many a push waits for. */
  copies(key: string): { copies: number; required: number; holders: string[] };
  /** `key` was removed: forget every copy of it. */
  removed(key: string): Promise<void>;
}

/** The push stored the release on the leader, but too few standbys hold it by the deadline. */
export class UnderReplicatedError extends FailedPreconditionError {}

export const DEFAULT_RELEASE_COPIES = 1;
export const DEFAULT_COPY_TIMEOUT_MS = 120_000;

export interface CopyQuorumInit {
  /** This (the leading) master's id. */
  masterId: string;
  /** Standby copies a push waits for (`--release-copies`); 0 = the leader's alone. */
  required?: number;
  /** How long a push waits for them (`--release-copy-timeout`), in ms. */
  timeoutMs?: number;
}

export class CopyQuorum implements ReleaseReplication {
  /** Both may change while the master runs; the next push uses the new values. */
  required: number;
  timeoutMs: number;

  constructor(
    private readonly copiesBook: ReleaseCopies,
    private readonly log: Logger,
    private readonly init: CopyQuorumInit,
  ) {
    this.required = init.required ?? DEFAULT_RELEASE_COPIES;
    this.timeoutMs = init.timeoutMs ?? DEFAULT_COPY_TIMEOUT_MS;
    if (!Number.isInteger(this.required) || this.required < 0)
      throw new Error(`release copies: ${this.required} is not a whole number of copies >= 0`);
  }

  async held(release: Release, torrent: Buffer): Promise<void> {
    const key = `${release.name}@${release.version}`;
    const mine = this.copiesBook.get(key, this.init.masterId);
    if (mine && mine.sha256 === release.sha256 && mine.infoHash === release.infoHash) return;
    await this.copiesBook.put(key, this.init.masterId, {
      sha256: release.sha256,
      infoHash: release.infoHash,
      torrent,
    });
  }

  async lost(key: string): Promise<void> {
    if (this.copiesBook.get(key, this.init.masterId)) await this.copiesBook.drop(key, this.init.masterId);
  }

  copies(key: string): { copies: number; required: number; holders: string[] } {
    const holders = this.others(key);
    return { copies: holders.length, required: this.required, holders };
  }

  async waitForCopies(key: string): Promise<void> {
    if (this.required === 0) return;
    const enough = () => this.others(key).length >= this.required;
    const started = Date.now();
    const ok = await this.copiesBook.until(key, enough, AbortSignal.timeout(this.timeoutMs));
    const holders = this.others(key);
    if (ok) {
      this.log.info("release replicated", {
        release: key,
        standbys: holders.join(","),
        ms: Date.now() - started,
      });
      return;
    }
    throw new UnderReplicatedError(
      `release ${key} is stored on the leader, but ${holders.length} of the ${this.required} standby copies required exist after ${seconds(this.timeoutMs)} s${holders.length ? ` (held by ${holders.join(", ")})` : ""}; it stays, shown under-replicated in "yardctl release ls"; push it again to wait again, or check that the standbys run (yardctl get masters)`,
    );
  }

  async removed(key: string): Promise<void> {
    await this.copiesBook.drop(key);
  }

  /** The masters other than this one that hold a copy of `key`. */
  private others(key: string): string[] {
    return this.copiesBook.holders(key).filter((m) => m !== this.init.masterId);
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? String(ms / 1000) : (ms / 1000).toFixed(1);
}
