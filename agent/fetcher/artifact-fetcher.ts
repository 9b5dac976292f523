// The agent's artifact fetcher: brings releases from the BitTorrent swarm (the master's seed
// and the other agents) into the cache, verifies them, keeps seeding them, evicts the least
// recently used past the cache limit, and reports progress.
//
// Contracts:
// - An artifact is used (loaded, unpacked, reported in Register.artifacts) only after its whole
//   file matched the release's sha256, checked at fetch, at agent start and before each use.
//   A file that fails is fetched again; the engine's piece check at add time keeps every
//   piece that is still good, so only the damaged pieces travel again.
// - One fetch per release at a time: a second request for a release being fetched joins it.
// - A fetch starts only when the release fits on the disk with the reserve left free (after
//   evicting unpinned releases, least recently used first); otherwise it fails at once with
//   InsufficientSpaceError, naming what it needs and what is free (docs/releases.md).
// - A failed fetch leaves nothing behind: its partial file and cache entry are removed. Only a
//   fetch cut short by the agent stopping keeps its pieces, and resumes at the next start from
//   them, after the same space check.
// - A release pinned by a task (pin/unpin) is never evicted, by the LRU or by the master.
// - The swarm is private (docs/security.md): announces carry the passkey the master gave at
//   registration, and every peer must prove membership (common/swarm-auth.ts) before it gets
//   a piece. Until the first registration the fetcher has no credentials: its announces are
//   refused and it admits no peer; new credentials are announced at once.
// - Progress goes out through `onProgress`: FETCHING at most every `progressIntervalMs`,
//   VERIFYING, then DONE or FAILED; while seeding, DONE again when the upload counter moved
//   (at most every `seedReportIntervalMs`), so the master sees which agents feed others.
import fs from "node:fs";
import { errorMessage, FailedPreconditionError, InvalidArgumentError } from "../../common/errors.js";
import { createLogger, type Logger } from "../../common/logger.js";
import type { CachedArtifact, FetchArtifact, FetchProgress } from "../../proto/gen/yard/v1/agent.js";
import { ArtifactCache, type CacheEntry, checkKind, checkRelease, checkSha256 } from "./artifact-cache.js";
import { dockerLoad, installIntoSandbox } from "./artifact-install.js";
import { verifyArtifact } from "./artifact-verify.js";
import { planEviction } from "./cache-eviction.js";
import { planFetchSpace } from "./fetch-space.js";
import { bytesOnDisk, diskSpace, reserveBytes } from "../disk-space.js";
import { SwarmEngine } from "../../common/swarm/swarm-engine.js";
import type { TorrentSession } from "../../common/swarm/torrent-session.js";
import type { TlsMaterial } from "../../common/tls.js";

export type FetchState = "FETCHING" | "VERIFYING" | "DONE" | "FAILED" | "EVICTED";

export interface ArtifactFetcherComponents {
  onProgress: (p: FetchProgress) => void;
}

export interface ArtifactFetcherInit {
  cacheDir: string;
  /** TLS material for announces to the master's HTTPS tracker; null = plain HTTP (--insecure). */
  tls?: TlsMaterial | null;
  /** Cache limit in bytes; unlimited when unset. */
  cacheSizeBytes?: number;
  /** BitTorrent listen port; 0 = a free one. */
  peerPort?: number;
  /** Address the peer listener binds to (all interfaces when unset). */
  listenHost?: string;
  /** How long a peer has to prove swarm membership (default 5 s). */
  authTimeoutMs?: number;
  /** Bytes per second; unlimited when unset or 0. */
  uploadRate?: number;
  downloadRate?: number;
  /** Docker endpoint for `docker load` (e.g. unix:///run/docker.sock); images load at fetch when set. */
  dockerHost?: string;
  /** Limits on `docker load` and on unpacking a tar (artifact-install.ts has the defaults). */
  dockerLoadTimeoutMs?: number;
  tarTimeoutMs?: number;
  progressIntervalMs?: number;
  seedReportIntervalMs?: number;
  /** A fetch that receives nothing for this long fails. */
  stallTimeoutMs?: number;
  /** Fetches of one request when the finished file fails its sha256. */
  maxAttempts?: number;
  /** Space a fetch must leave free on the cache's disk, in MiB (default: disk-space.ts). */
  diskReserveMiB?: number;
  logger?: Logger;
}

/** A fetch did not produce a verified artifact; the message is what the master is told. */
export class FetchError extends Error {
  constructor(
    readonly release: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "FetchError";
  }
}

/** The release does not fit on the disk, even after evicting what may be evicted. */
export class InsufficientSpaceError extends FetchError {
  constructor(release: string, message: string) {
    super(release, message);
    this.name = "InsufficientSpaceError";
  }
}

interface Active {
  promise: Promise<CacheEntry>;
  abort: AbortController;
}

interface Seeding {
  torrent: TorrentSession;
  lastUploaded: number;
}

export class ArtifactFetcher {
  readonly cache: ArtifactCache;
  private readonly log: Logger;
  private engine?: SwarmEngine;
  private readonly active = new Map<string, Active>();
  private readonly torrents = new Map<string, Seeding>();
  private readonly pins = new Map<string, Set<string>>();
  private readonly loaded = new Set<string>();
  private seedTimer?: NodeJS.Timeout;
  private stopped = false;
  private swarm?: { key: Buffer; passkey: string };

  constructor(
    private readonly components: ArtifactFetcherComponents,
    private readonly init: ArtifactFetcherInit,
  ) {
    this.log = init.logger ?? createLogger("fetcher");
    for (const name of ["cacheSizeBytes", "uploadRate", "downloadRate"] as const) {
      const v = init[name];
      if (v !== undefined && (!Number.isFinite(v) || v < 0)) {
        throw new InvalidArgumentError(name, `${v} is not a non-negative number of bytes`);
      }
    }
    this.cache = new ArtifactCache(init.cacheDir, this.log);
  }

  /** Starts the peer listener, re-verifies the cache, seeds what is verified, resumes the rest. */
  async start(): Promise<void> {
    this.engine = await SwarmEngine.create({
      peerPort: this.init.peerPort,
      listenHost: this.init.listenHost,
      uploadLimit: this.init.uploadRate,
      downloadLimit: this.init.downloadRate,
      tls: this.init.tls,
      announceParams: (): Record<string, string> => (this.swarm ? { passkey: this.swarm.passkey } : {}),
      swarmKey: () => this.swarm?.key,
      authTimeoutMs: this.init.authTimeoutMs,
      log: this.log,
    });
    const resume: CacheEntry[] = [];
    for (const e of this.cache.load()) {
      const torrent = this.cache.readTorrent(e.release);
      if (!torrent) {
        this.log.warn("cache entry without its torrent removed", { release: e.release });
        this.cache.remove(e.release);
        continue;
      }
      if (e.verified) {
        const v = await verifyArtifact(this.cache.artifactPath(e), e.sha256, e.size);
        if (v.ok) {
          await this.seed(e, torrent, true);
          continue;
        }
        this.log.warn("cached artifact failed verification at start: fetching it again", {
          release: e.release,
          problem: v.problem,
          detail: v.detail,
        });
        this.cache.update(e.release, { verified: false });
      }
      resume.push(e);
    }
    for (const e of resume) {
      const req = this.requestOf(e);
      this.fetch(req).catch((err) => this.log.warn("resumed fetch failed", { release: e.release, err }));
    }
    this.seedTimer = setInterval(() => this.reportSeeding(), this.init.seedReportIntervalMs ?? 2000);
    this.seedTimer.unref();
    this.log.info("artifact cache ready", {
      dir: this.cache.dir,
      verified: this.cache.all().filter((e) => e.verified).length,
      resuming: resume.length,
      peerPort: this.peerPort(),
    });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.seedTimer) clearInterval(this.seedTimer);
    for (const a of this.active.values()) a.abort.abort(new Error("the agent is stopping"));
    await Promise.allSettled([...this.active.values()].map((a) => a.promise));
    if (this.engine) await this.engine.destroy();
    this.torrents.clear();
  }

  /**
   * The private swarm's key and this agent's tracker passkey, from its latest registration.
   * When they change, every torrent announces again with them at once.
   */
  setSwarmCredentials(key: Buffer, passkey: string): void {
    if (key.length === 0 || !passkey) return;
    const same = this.swarm && this.swarm.passkey === passkey && this.swarm.key.equals(key);
    this.swarm = { key: Buffer.from(key), passkey };
    if (same) return;
    for (const s of this.torrents.values()) s.torrent.announceNow();
  }

  /** Peers admitted and refused by the swarm's handshake since the start (for tests and logs). */
  swarmAuthCounts(): { verified: number; granted: number; refused: number } {
    return { ...(this.engine?.authCounts ?? { verified: 0, granted: 0, refused: 0 }) };
  }

  peerPort(): number {
    return this.engine?.address()?.port ?? 0;
  }

  /** The verified releases, for Register.artifacts. */
  cached(): CachedArtifact[] {
    return this.cache
      .all()
      .filter((e) => e.verified)
      .map((e) => ({ release: e.release, sha256: e.sha256, size: e.size }));
  }

  /** Bytes uploaded to other peers for a release since this agent started (for tests and reports). */
  uploaded(release: string): number {
    return this.torrents.get(release)?.torrent.uploaded ?? 0;
  }

  /** Bytes received from peers for a release since this agent started (a resumed fetch receives only what it lacked). */
  received(release: string): number {
    return this.torrents.get(release)?.torrent.downloaded ?? 0;
  }

  bannedPeers(release: string): number {
    return this.torrents.get(release)?.torrent.strikes.banned.size ?? 0;
  }

  pin(release: string, owner: string): void {
    let s = this.pins.get(release);
    if (!s) {
      s = new Set();
      this.pins.set(release, s);
    }
    s.add(owner);
  }

  unpin(release: string, owner: string): void {
    const s = this.pins.get(release);
    if (!s) return;
    s.delete(owner);
    if (s.size === 0) this.pins.delete(release);
  }

  /** Fetches a release into the cache; resolves its verified entry. */
  fetch(req: FetchArtifact): Promise<CacheEntry> {
    try {
      validate(req);
    } catch (err) {
      this.progress(req, "FAILED", { error: errorMessage(err) });
      return Promise.reject(err);
    }
    const running = this.active.get(req.release);
    if (running) return running.promise;
    const abort = new AbortController();
    const promise = this.runFetch(req, abort.signal).finally(() => this.active.delete(req.release));
    this.active.set(req.release, { promise, abort });
    return promise;
  }

  /**
   * Before a task uses a release: fetches it if needed, verifies the file again, loads a
   * docker image or installs the artifact into `sandbox`. The caller pins the release first.
   */
  async prepare(req: FetchArtifact, sandbox?: string): Promise<CacheEntry> {
    // fetch() verifies a cached file again before handing it out.
    const entry = await this.fetch(req);
    this.cache.touch(entry.release);
    const file = this.cache.artifactPath(entry);
    if (entry.kind === "docker-image") {
      if (!this.loaded.has(entry.release)) {
        await dockerLoad(file, this.init.dockerHost, this.init.dockerLoadTimeoutMs);
        this.loaded.add(entry.release);
      }
    } else if (sandbox) {
      await installIntoSandbox(entry.kind, file, sandbox, this.init.tarTimeoutMs);
    }
    return entry;
  }

  /** Removes a release from the cache; refused while a task uses it. */
  async evict(release: string): Promise<void> {
    checkRelease(release);
    if (this.pins.has(release)) {
      throw new FailedPreconditionError(
        `release ${release} is used by task(s) ${[...this.pins.get(release)!].join(", ")}`,
      );
    }
    const a = this.active.get(release);
    if (a) {
      a.abort.abort(new Error(`release ${release} was evicted`));
      await a.promise.catch(() => undefined);
    }
    const e = this.cache.get(release);
    await this.dropTorrent(release);
    this.cache.remove(release);
    this.loaded.delete(release);
    if (e) this.progress(this.requestOf(e), "EVICTED", {});
    this.log.info("release evicted", { release });
  }

  private async runFetch(req: FetchArtifact, signal: AbortSignal): Promise<CacheEntry> {
    const kind = checkKind(req.kind);
    const size = Number(req.size);
    let entry = this.cache.get(req.release);
    if (entry && entry.sha256 !== req.sha256) {
      // The same name now stands for other bytes: the old ones cannot be reused.
      if (this.pins.has(req.release)) {
        const err = new FetchError(
          req.release,
          `release ${req.release} in use with sha256 ${entry.sha256}, asked for ${req.sha256}`,
        );
        this.progress(req, "FAILED", { error: err.message });
        throw err;
      }
      await this.dropTorrent(req.release);
      this.cache.remove(req.release);
      entry = undefined;
    }
    if (entry?.verified) {
      const v = await verifyArtifact(this.cache.artifactPath(entry), entry.sha256, entry.size);
      if (v.ok) {
        this.cache.touch(entry.release);
        if (!this.torrents.has(entry.release)) await this.seed(entry, Buffer.from(req.torrent), true);
        this.progress(req, "DONE", { downloaded: 0 });
        return this.cache.get(entry.release)!;
      }
      this.log.warn("cached artifact failed verification: fetching it again", {
        release: req.release,
        detail: v.detail,
      });
      await this.dropTorrent(req.release);
    }
    await this.ensureSpace(req, size);
    this.cache.put(
      {
        release: req.release,
        sha256: req.sha256,
        size,
        kind,
        fileName: entry?.fileName ?? "",
        verified: false,
        lastUsed: Date.now(),
      },
      req.torrent,
    );
    await this.makeRoom(req.release);

    const attempts = this.init.maxAttempts ?? 2;
    let lastError = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const done = await this.download(req, signal);
        this.progress(req, "VERIFYING", { downloaded: done.downloaded, uploaded: done.uploaded });
        const fileEntry = this.cache.get(req.release)!;
        const v = await verifyArtifact(this.cache.artifactPath(fileEntry), req.sha256, size);
        if (!v.ok) {
          // The pieces matched the torrent but the file is not the release: the torrent
          // itself is wrong, or the file changed under us. Start again from nothing.
          lastError = `verification failed: ${v.detail}`;
          this.log.warn("fetched artifact failed verification", {
            release: req.release,
            attempt,
            detail: v.detail,
          });
          await this.dropTorrent(req.release);
          fs.rmSync(this.cache.dataDir(req.release), { recursive: true, force: true });
          continue;
        }
        const verified = this.cache.update(req.release, { verified: true, lastUsed: Date.now() })!;
        if (kind === "docker-image" && this.init.dockerHost) {
          try {
            await dockerLoad(
              this.cache.artifactPath(verified),
              this.init.dockerHost,
              this.init.dockerLoadTimeoutMs,
            );
          } catch (err) {
            // The file is fine (verified); fetching it again would not help the engine.
            throw new FetchError(req.release, errorMessage(err), { cause: err });
          }
          this.loaded.add(req.release);
        }
        const s = this.torrents.get(req.release);
        if (s) s.lastUploaded = s.torrent.uploaded;
        this.progress(req, "DONE", { downloaded: done.downloaded, uploaded: done.uploaded });
        this.log.info("release fetched and verified", { release: req.release, bytes: size });
        return verified;
      } catch (err) {
        lastError = errorMessage(err);
        if (signal.aborted || err instanceof FetchError) break;
        this.log.warn("fetch attempt failed", { release: req.release, attempt, error: lastError });
      }
    }
    // A stopping agent resumes from what is on disk; any other failure leaves nothing behind.
    if (!signal.aborted) await this.discard(req.release);
    this.progress(req, "FAILED", { error: lastError });
    throw new FetchError(req.release, `fetch of ${req.release} failed: ${lastError}`);
  }

  /** Fails the fetch before it writes anything unless the release fits (evicting LRU releases). */
  private async ensureSpace(req: FetchArtifact, size: number): Promise<void> {
    const disk = diskSpace(this.cache.dir);
    const plan = planFetchSpace({
      release: req.release,
      needBytes: Math.max(size - bytesOnDisk(this.cache.dataDir(req.release)), 0),
      freeBytes: disk.freeBytes,
      reserveBytes: reserveBytes(disk.totalBytes, this.init.diskReserveMiB),
      cached: this.cache.all(),
      busy: new Set([...this.pins.keys(), ...this.active.keys()]),
    });
    if (!plan.fits) {
      await this.discard(req.release);
      this.log.warn("release does not fit on the disk", { release: req.release, reason: plan.message });
      this.progress(req, "FAILED", { error: plan.message });
      throw new InsufficientSpaceError(req.release, plan.message);
    }
    for (const release of plan.evict) {
      this.log.info("evicting least recently used release to make room on the disk", { release });
      await this.evict(release).catch((err) => this.log.warn("eviction failed", { release, err }));
    }
  }

  /** Forgets a release that is not verified: its torrent, partial file and cache entry. */
  private async discard(release: string): Promise<void> {
    await this.dropTorrent(release);
    if (this.cache.get(release)) this.cache.remove(release);
    else fs.rmSync(this.cache.releaseDir(release), { recursive: true, force: true });
  }

  /** Adds the torrent (or finds it already added) and waits until every piece is verified. */
  private async download(
    req: FetchArtifact,
    signal: AbortSignal,
  ): Promise<{ downloaded: number; uploaded: number }> {
    const entry = this.cache.get(req.release)!;
    const s = this.torrents.get(req.release) ?? (await this.seed(entry, Buffer.from(req.torrent), false));
    const t = s.torrent;
    const interval = this.init.progressIntervalMs ?? 500;
    const stallMs = this.init.stallTimeoutMs ?? 120_000;
    let lastBytes = t.downloaded;
    let lastChange = Date.now();
    let prev = { at: Date.now(), down: t.downloaded, up: t.uploaded };
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (err?: Error) => {
        if (timer) clearInterval(timer);
        signal.removeEventListener("abort", onAbort);
        t.removeListener("done", onDone);
        t.removeListener("error", onError);
        if (err) reject(err);
        else resolve();
      };
      const onDone = () => finish();
      const onError = (err: Error) => finish(err);
      const onAbort = () => finish(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      if (t.done) return finish();
      t.on("done", onDone);
      t.on("error", onError);
      signal.addEventListener("abort", onAbort);
      timer = setInterval(() => {
        const now = Date.now();
        if (t.downloaded !== lastBytes) {
          lastBytes = t.downloaded;
          lastChange = now;
        } else if (now - lastChange > stallMs) {
          finish(new Error(`no data for ${Math.round(stallMs / 1000)} s (peers: ${t.numPeers})`));
          return;
        }
        const secs = Math.max((now - prev.at) / 1000, 0.001);
        this.progress(req, "FETCHING", {
          downloaded: t.downloaded,
          uploaded: t.uploaded,
          downloadRate: (t.downloaded - prev.down) / secs,
          uploadRate: (t.uploaded - prev.up) / secs,
        });
        prev = { at: now, down: t.downloaded, up: t.uploaded };
      }, interval);
    });
    return { downloaded: t.downloaded, uploaded: t.uploaded };
  }

  /** Adds a torrent to the swarm engine over the release's data dir. */
  private async seed(entry: CacheEntry, torrentFile: Buffer, skipVerify: boolean): Promise<Seeding> {
    const engine = this.engine;
    if (!engine) throw new Error("the fetcher is not started");
    let t: TorrentSession;
    try {
      t = await engine.add(torrentFile, { path: this.cache.dataDir(entry.release), skipVerify });
    } catch (err) {
      throw new FetchError(entry.release, `torrent: ${errorMessage(err)}`, { cause: err });
    }
    if (t.length !== entry.size) {
      await engine.remove(t.infoHash);
      throw new FetchError(
        entry.release,
        `torrent: its length ${t.length} differs from the release's size ${entry.size}`,
      );
    }
    if (entry.fileName !== t.files[0]!.path) this.cache.update(entry.release, { fileName: t.files[0]!.path });
    const s: Seeding = { torrent: t, lastUploaded: 0 };
    this.torrents.set(entry.release, s);
    t.on("error", (err: Error) => {
      this.log.warn("torrent error", { release: entry.release, err });
      if (this.torrents.get(entry.release)?.torrent === t) this.torrents.delete(entry.release);
    });
    return s;
  }

  private async dropTorrent(release: string): Promise<void> {
    const s = this.torrents.get(release);
    if (!s) return;
    this.torrents.delete(release);
    await this.engine?.remove(s.torrent.infoHash);
  }

  private async makeRoom(keep: string): Promise<void> {
    const limit = this.init.cacheSizeBytes;
    if (limit === undefined || limit <= 0) return;
    const plan = planEviction(this.cache.all(), limit, new Set(this.pins.keys()), keep);
    for (const release of plan.evict) {
      if (this.active.has(release)) continue;
      this.log.info("evicting least recently used release to make room", { release, limit });
      await this.evict(release).catch((err) => this.log.warn("eviction failed", { release, err }));
    }
    if (plan.overLimit) {
      this.log.warn("cache over its limit: the remaining releases are in use", {
        bytes: plan.bytesAfter,
        limit,
      });
    }
  }

  private reportSeeding(): void {
    for (const [release, s] of this.torrents) {
      const e = this.cache.get(release);
      if (!e?.verified || this.active.has(release) || s.torrent.uploaded === s.lastUploaded) continue;
      s.lastUploaded = s.torrent.uploaded;
      this.progress(this.requestOf(e), "DONE", {
        downloaded: s.torrent.downloaded,
        uploaded: s.torrent.uploaded,
      });
    }
  }

  private requestOf(e: CacheEntry): FetchArtifact {
    return {
      release: e.release,
      sha256: e.sha256,
      torrent: this.cache.readTorrent(e.release) ?? Buffer.alloc(0),
      kind: e.kind,
      size: e.size,
    };
  }

  private progress(req: FetchArtifact, state: FetchState, f: Partial<FetchProgress>): void {
    try {
      this.components.onProgress({
        release: req.release,
        sha256: req.sha256,
        state,
        downloaded: 0,
        uploaded: 0,
        size: Number(req.size),
        downloadRate: 0,
        uploadRate: 0,
        error: "",
        ...f,
      });
    } catch (err) {
      this.log.warn("progress report failed", { err });
    }
  }
}

function validate(req: FetchArtifact): void {
  checkRelease(req.release);
  checkSha256(req.sha256);
  checkKind(req.kind);
  if (!req.torrent || req.torrent.length === 0)
    throw new InvalidArgumentError("torrent", "the metainfo is empty");
  const size = Number(req.size);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new InvalidArgumentError("size", `${req.size} is not a byte count`);
}
