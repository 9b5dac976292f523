// A standby master's copy of every release (HA; docs/ha.md, "Releases in HA"), so that the
// releases survive the leader's disk and a new leader seeds them at once.
//
// The standby learns of releases from its warm copy of the registry (`releases()`, nudged on
// each change) and of their torrents from the copy keys in etcd (release-copies.ts: the leader
// records its own copy with the torrent). Each release it lacks it fetches from the swarm as a
// peer, with the agents' fetcher (agent/fetcher/artifact-fetcher.ts: the same BitTorrent
// client, private-swarm handshake, stall detection and sha256 verification). A verified file
// is hard-linked where the release manager keeps release files (release-files.ts: the blob,
// the seed dir, the torrent), so that the release manager of this master, once it leads, finds
// every release in place and seeds it; then the standby records its copy key. Until then the
// fetcher keeps seeding what it fetched, so standbys feed each other and the agents too.
//
// A release removed from the registry whose copy key of this master is gone too (the leader
// deletes a removed release's copy keys) is deleted from the disk. Both must be absent: an
// empty or lagging registry snapshot alone never deletes anything, and a copy key deleted while
// the registry still lists the release is recorded again.
import { existsSync, linkSync, copyFileSync } from "node:fs";
import type { Logger } from "../../common/logger.js";
import type { FetchArtifact } from "../../proto/gen/yard/v1/agent.js";
import type { Release } from "../../proto/gen/yard/v1/release.js";
import type { ReleaseCopies } from "./release-copies.js";
import type { ReleaseFiles } from "./release-files.js";
import { parseTorrentFile, withAnnounce } from "./release-torrent.js";

/** The part of the agents' ArtifactFetcher that the replica uses. */
export interface ReplicaFetcher {
  fetch(req: FetchArtifact): Promise<{ release: string; sha256: string; fileName: string }>;
  evict(release: string): Promise<void>;
  readonly cache: {
    all(): Array<{ release: string; sha256: string; verified: boolean }>;
    artifactPath(entry: { release: string; fileName: string }): string;
    readTorrent(release: string): Buffer | undefined;
  };
}

export interface ReleaseReplicaComponents {
  /** The releases of the registry (the standby's warm copy of it). */
  releases: () => Release[];
  copies: ReleaseCopies;
  fetcher: ReplicaFetcher;
  /** The release manager's files in this master's data dir. */
  files: ReleaseFiles;
  logger: Logger;
}

export interface ReleaseReplicaInit {
  /** This master's id: the last part of its copy keys. */
  masterId: string;
  /** The trackers a fetch announces to: the leader's first. */
  trackers: () => string[];
  /** Wait before trying a failed copy again, in ms (default 5 s). */
  retryMs?: number;
  /**
   * Look again every so often without a nudge, in ms (default 10 s): the registry and the copy
   * keys are two watches, and a change seen on one before the other is picked up here at worst.
   */
  rescanMs?: number;
}

export class ReleaseReplica {
  private readonly log: Logger;
  private readonly copying = new Map<string, Promise<void>>();
  private passing?: Promise<void>;
  private again = false;
  private stopped = false;
  private retryTimer?: NodeJS.Timeout;
  private readonly rescanTimer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly components: ReleaseReplicaComponents,
    private readonly init: ReleaseReplicaInit,
  ) {
    this.log = components.logger;
    this.unsubscribe = components.copies.onChange(() => this.nudge());
    this.rescanTimer = setInterval(() => this.nudge(), init.rescanMs ?? 10_000);
    this.rescanTimer.unref();
  }

  /** Looks again at the registry's releases and the copies (after a change of either). */
  nudge(): void {
    if (this.stopped) return;
    if (this.passing) {
      this.again = true;
      return;
    }
    this.passing = this.pass()
      .catch((err) => this.log.warn("release replica pass failed", { err }))
      .finally(() => {
        this.passing = undefined;
        if (this.again) {
          this.again = false;
          this.nudge();
        }
      });
  }

  /** Whether this master holds a verified copy of `release` in its release store. */
  holds(r: Release): boolean {
    const mine = this.components.copies.get(keyOf(r), this.init.masterId);
    return (
      mine !== undefined &&
      mine.sha256 === r.sha256 &&
      mine.infoHash === r.infoHash &&
      this.components.files.blobSize(r.sha256) === r.size
    );
  }

  /** Resolves once no pass and no copy is under way (tests, and before a promotion). */
  async idle(): Promise<void> {
    while (this.passing || this.copying.size > 0) {
      await this.passing;
      await Promise.allSettled([...this.copying.values()]);
    }
  }

  /** Stops starting copies; the caller stops the fetcher, which ends the copies under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe();
    clearInterval(this.rescanTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.passing;
  }

  /** Waits for the copies under way to end (after the fetcher stopped). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.copying.values()]);
  }

  private async pass(): Promise<void> {
    const { copies, fetcher } = this.components;
    const wanted = new Map(this.components.releases().map((r) => [keyOf(r), r]));
    for (const [key, r] of wanted) {
      if (this.copying.has(key) || this.holds(r)) continue;
      const copy = this.copy(r)
        .catch((err) => {
          if (this.stopped) return;
          this.log.warn("cannot copy a release to this standby; trying again", {
            release: key,
            err,
          });
          this.retryLater();
        })
        .finally(() => this.copying.delete(key));
      this.copying.set(key, copy);
    }
    // Removed releases: gone from the registry, and this master's copy key gone too.
    const gone = new Map<string, string>();
    for (const e of fetcher.cache.all()) {
      if (!wanted.has(e.release) && !copies.get(e.release, this.init.masterId)) gone.set(e.release, e.sha256);
    }
    for (const [release, sha256] of gone) {
      if (this.copying.has(release)) continue;
      await this.discard(release, sha256, wanted);
    }
    if (this.copying.size === 0) this.sweep(wanted);
  }

  /**
   * Deletes release files that no release of the registry and no copy key of this master
   * names (a release removed while this master was down, or held from its own time as
   * leader). Both must be silent, as for a removal; and only while no copy is under way, so
   * that a file just fetched is never taken for a leftover.
   */
  private sweep(wanted: Map<string, Release>): void {
    const { files, copies } = this.components;
    const keepSha = new Set<string>();
    const keepHash = new Set<string>();
    for (const r of wanted.values()) {
      keepSha.add(r.sha256);
      keepHash.add(r.infoHash);
    }
    for (const [, r] of copies.heldBy(this.init.masterId)) {
      keepSha.add(r.sha256);
      keepHash.add(r.infoHash);
    }
    for (const e of this.components.fetcher.cache.all()) keepSha.add(e.sha256);
    for (const infoHash of files.torrentHashes()) {
      if (keepHash.has(infoHash)) continue;
      files.clearSeed(infoHash);
      files.clearFile(files.torrentPath(infoHash));
      this.log.info("leftover release files deleted from this standby", { infoHash });
    }
    for (const sha256 of files.blobHashes()) {
      if (keepSha.has(sha256)) continue;
      files.clearFile(files.blobPath(sha256));
      this.log.info("leftover release blob deleted from this standby", { sha256 });
    }
  }

  private retryLater(): void {
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.nudge();
    }, this.init.retryMs ?? 5000);
    this.retryTimer.unref();
  }

  /** Brings one release into the release store and records the copy. */
  private async copy(r: Release): Promise<void> {
    const key = keyOf(r);
    const { copies, files, fetcher } = this.components;
    const source = copies.anyWith(key, r.infoHash);
    if (copies.get(key, this.init.masterId) && !this.holds(r)) {
      // A key that no longer tells the truth (the blob went missing) is withdrawn first.
      await copies.drop(key, this.init.masterId);
    }
    // The same bytes may be here already (another release of them, or a former leadership).
    if (files.blobSize(r.sha256) !== undefined) {
      if (!(await files.checkBlob(r.sha256, r.size))) {
        const torrent = existsSync(files.torrentPath(r.infoHash))
          ? files.readTorrent(r.infoHash)
          : source?.torrent;
        if (!torrent) return; // nudged again when a holder records its copy
        this.store(r, torrent, undefined);
        await copies.put(key, this.init.masterId, { sha256: r.sha256, infoHash: r.infoHash, torrent });
        this.log.info("release copy recorded from the bytes held", { release: key });
        return;
      }
      // Bad bytes under the release's sha256: fetched again below, then linked in their place.
      files.clearFile(files.blobPath(r.sha256));
    }
    if (!source) return; // no holder has recorded the torrent yet: nudged when one does
    const entry = await fetcher.fetch({
      release: key,
      sha256: r.sha256,
      torrent: await withAnnounce(source.torrent, this.init.trackers()),
      kind: r.kind,
      size: r.size,
    });
    if (this.stopped) return;
    this.store(r, source.torrent, fetcher.cache.artifactPath(entry));
    await copies.put(key, this.init.masterId, {
      sha256: r.sha256,
      infoHash: r.infoHash,
      torrent: source.torrent,
    });
    this.log.info("release copied to this standby", { release: key, bytes: r.size });
  }

  /** Puts a verified file where the release manager keeps it: blob, torrent, seed dir. */
  private store(r: Release, torrent: Buffer, fetched: string | undefined): void {
    const { files } = this.components;
    if (fetched && files.blobSize(r.sha256) === undefined) {
      try {
        linkSync(fetched, files.blobPath(r.sha256));
      } catch {
        copyFileSync(fetched, files.blobPath(r.sha256));
      }
    }
    files.writeTorrent(r.infoHash, torrent);
    // A seed dir left from an earlier blob would keep the old bytes: link the current one.
    files.clearSeed(r.infoHash);
    files.prepareSeed(r.sha256, r.infoHash, r.fileName);
  }

  private async discard(release: string, sha256: string, wanted: Map<string, Release>): Promise<void> {
    const { files, fetcher } = this.components;
    const torrent = fetcher.cache.readTorrent(release);
    const infoHash = torrent ? (await parseTorrentFile(torrent)).infoHash : undefined;
    await fetcher.evict(release);
    const blobInUse = [...wanted.values()].some((r) => r.sha256 === sha256);
    if (infoHash) files.remove(sha256, infoHash, blobInUse);
    this.log.info("removed release dropped from this standby", { release });
  }
}

function keyOf(r: Release): string {
  return `${r.name}@${r.version}`;
}
