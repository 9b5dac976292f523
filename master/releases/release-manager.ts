// The master's release store and distributor: stores pushed releases, keeps their torrents,
// seeds them, tells agents what to fetch and follows their progress. The gRPC shell
// (master/grpc/release-service.ts) and the master's core (through ReleaseHooks) call it.
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { CachedArtifact, FetchArtifact, FetchProgress } from "../../proto/gen/yard/v1/agent.js";
import {
  type AgentFetch,
  type ListReleasesResponse,
  type PushResponse,
  type ReleaseCopyState,
  type Release,
  type ReleaseStatus,
  type SetPinsRequest,
  type StageRequest,
  StageStatus,
  type TorrentFile,
} from "../../proto/gen/yard/v1/release.js";
import type { RegistryStore } from "../store/registry-store.js";
import { ReleaseFiles } from "./release-files.js";
import { PinBook } from "./pins.js";
import type { ClusterView, ReleaseHooks } from "./release-hooks.js";
import {
  checkKind,
  checkName,
  checkVersion,
  parseReleaseRef,
  releaseKey,
  torrentFileName,
} from "./release-ref.js";
import { buildTorrent, withAnnounce } from "./release-torrent.js";
import { type SeedStats, Seeder, type SeederInit } from "./seeder.js";
import { type SwarmAccess, MAX_GRANT_TTL_MS } from "./swarm-access.js";
import { type FetchRecord, StagingBook, stagingVerdict } from "./staging.js";
import type { ReceivedUpload } from "./upload.js";
import type { ReleaseReplication } from "./copy-quorum.js";

export interface ReleaseManagerComponents {
  store: RegistryStore;
  cluster: ClusterView;
  logger: Logger;
  /** Told when a release is removed, so that it forgets the release's swarm. */
  tracker?: { forget(infoHash: string): void };
  /** The private swarm: its key, passkeys and grants. */
  swarm: SwarmAccess;
  /**
   * Copies on the other masters (HA, copy-quorum.ts): a push returns once enough standbys hold
   * the release. Absent on a single master.
   */
  replication?: ReleaseReplication;
}

export interface ReleaseManagerInit {
  /** The master's data dir; the store lives in its releases/ subdirectory. */
  dataDir: string;
  seeder?: SeederInit;
  /** How often a WatchStage stream re-checks its agents (e.g. for lost ones), in ms. */
  watchRecheckMs?: number;
  /** How often every stored blob is checked against its sha256, in ms (default 1 h). */
  verifyIntervalMs?: number;
}

/** The default interval of the verification of stored releases at rest. */
export const DEFAULT_VERIFY_INTERVAL_MS = 3_600_000;

export class ReleaseManager implements ReleaseHooks {
  private readonly log: Logger;
  private readonly files: ReleaseFiles;
  /** NAME@VERSION → release */
  private readonly releases = new Map<string, Release>();
  private readonly byInfoHash = new Map<string, string>();
  /** (release, agent) → when the master first asked for the fetch: staging throughput. */
  private readonly fetchStartedMs = new Map<string, number>();
  /** NAME@VERSION → the .torrent announcing to the master's current tracker URL. */
  private readonly torrents = new Map<string, Buffer>();
  private readonly book: StagingBook;
  private readonly pins: PinBook;
  private readonly locks = new Map<string, Promise<unknown>>();
  private seeder?: Seeder;
  /** The master's own tracker URL (grants are valid there only). */
  private announceUrl = "";
  /** Every tracker a torrent announces to: the master's own first (then, in HA, the other masters'). */
  private announce: string[] = [];
  /** The verification pass under way (at start, then on the schedule), and how to stop it. */
  private verifying?: Promise<void>;
  private readonly stopVerifying = new AbortController();
  private verifyTimer?: NodeJS.Timeout;

  constructor(
    private readonly components: ReleaseManagerComponents,
    private readonly init: ReleaseManagerInit,
  ) {
    this.log = components.logger;
    this.files = new ReleaseFiles(init.dataDir);
    for (const r of components.store.loadReleases()) this.remember(r);
    this.book = new StagingBook(
      {
        persist: (f) => components.store.putFetch(f),
        lookup: (key) => this.releases.get(key),
      },
      components.store.loadFetches(),
    );
    this.pins = new PinBook(
      {
        persist: (fw, releases, at) => components.store.setPins(fw, releases, at),
        isLive: (fw) => this.frameworks().get(fw)?.live ?? false,
      },
      components.store.loadPins(),
    );
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Starts the seeder, loads the stored releases' torrents (announcing to `announce`, the
   * master's tracker, known once its HTTP port is bound; in HA, then the other masters'
   * trackers, so that a torrent still finds a tracker after a failover), then, in the
   * background, checks every blob against its sha256 and seeds the sound ones; the check
   * repeats on a schedule.
   */
  async start(announce: string | readonly string[]): Promise<void> {
    this.announce = typeof announce === "string" ? [announce] : [...announce];
    if (this.announce.length === 0) throw new InvalidArgumentError("announce", "no tracker URL");
    this.announceUrl = this.announce[0]!;
    this.files.clearTmp();
    this.seeder = await Seeder.create({ logger: this.log, swarm: this.components.swarm }, this.init.seeder);
    for (const release of this.releases.values()) {
      const key = keyOf(release);
      try {
        this.torrents.set(key, await withAnnounce(this.files.readTorrent(release.infoHash), this.announce));
      } catch (err) {
        this.log.error("cannot load the torrent of a stored release", { release: key, err });
      }
    }
    this.verifyAll();
    const every = this.init.verifyIntervalMs ?? DEFAULT_VERIFY_INTERVAL_MS;
    this.verifyTimer = setInterval(() => this.verifyAll(), every);
    this.verifyTimer.unref();
    this.log.info("release store started", { releases: this.releases.size, peerPort: this.seeder.port });
  }

  async stop(): Promise<void> {
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    this.stopVerifying.abort(new Error("the release store is stopping"));
    await this.verifying;
    const seeder = this.seeder;
    this.seeder = undefined;
    await seeder?.stop();
  }

  // ---------------------------------------------------------------- verification at rest

  /**
   * Starts a pass over every stored release unless one is under way; resolves when the pass
   * that covers this call has ended (tests and the schedule call it). Never rejects.
   */
  verifyAll(): Promise<void> {
    this.verifying ??= this.verifyPass().finally(() => {
      this.verifying = undefined;
    });
    return this.verifying;
  }

  private async verifyPass(): Promise<void> {
    for (const key of [...this.releases.keys()]) {
      if (this.stopVerifying.signal.aborted) return;
      try {
        await this.locked(key, () => this.verifyOne(key));
      } catch (err) {
        if (!this.stopVerifying.signal.aborted)
          this.log.error("cannot verify a stored release", { release: key, err });
      }
    }
  }

  /** Checks one blob; seeds a sound release that is not seeded, stops seeding a corrupt one. */
  private async verifyOne(key: string): Promise<void> {
    // Under the release's lock: no push or removal of it runs meanwhile.
    const r = this.releases.get(key);
    if (!r || !this.seeder) return;
    const problem = await this.files.checkBlob(r.sha256, r.size, this.stopVerifying.signal);
    if (problem) {
      await this.markCorrupt(r, problem);
      return;
    }
    const healed = r.corrupt;
    this.releases.set(key, { ...r, corrupt: false, corruptMessage: "", verifiedAt: Date.now() / 1000 });
    if (healed) this.log.info("release blob is sound again: seeding it", { release: key });
    await this.seedStored(r, healed);
    await this.recordCopy(r);
  }

  /** In HA, records this master's sound copy of `r` (and the torrent standbys fetch it by). */
  private async recordCopy(r: Release): Promise<void> {
    const replication = this.components.replication;
    if (!replication) return;
    try {
      await replication.held(r, this.files.readTorrent(r.infoHash));
    } catch (err) {
      this.log.warn("cannot record this master's copy of a release", {
        release: keyOf(r),
        err,
      });
    }
  }

  /**
   * The master's copy is bad: stop seeding it (peers would only get pieces that fail their
   * hash), fail the fetches waiting for it and stop them on the agents. Staging it is refused
   * until it is pushed again or its blob is sound again.
   */
  private async markCorrupt(r: Release, problem: string): Promise<void> {
    const key = keyOf(r);
    const first = !r.corrupt || r.corruptMessage !== problem;
    this.releases.set(key, { ...r, corrupt: true, corruptMessage: problem, verifiedAt: Date.now() / 1000 });
    if (!first) return;
    this.log.error(
      "stored release is corrupt: no longer seeded, staging it fails; push it again to repair it",
      {
        release: key,
        problem,
      },
    );
    await this.seeder?.unseed(r.infoHash);
    await this.components.replication?.lost(key).catch((err) =>
      this.log.warn("cannot withdraw this master's copy of a release", {
        release: key,
        err,
      }),
    );
    const why = `release ${key} is corrupt on the master: ${problem}`;
    for (const agentId of this.book.fail(key, why))
      this.components.cluster.sendToAgent(agentId, { evictArtifact: { release: key } });
  }

  /** Seeds a stored, verified release (again from a fresh link to its blob when `relink`). */
  private async seedStored(release: Release, relink: boolean): Promise<void> {
    const key = keyOf(release);
    const seeder = this.requireSeeder();
    if (seeder.isSeeding(release.infoHash) && !relink) return;
    if (relink) {
      await seeder.unseed(release.infoHash);
      this.files.clearSeed(release.infoHash);
    }
    const torrent =
      this.torrents.get(key) ?? (await withAnnounce(this.files.readTorrent(release.infoHash), this.announce));
    this.torrents.set(key, torrent);
    const dir = this.files.prepareSeed(release.sha256, release.infoHash, release.fileName);
    await seeder.seed(release.infoHash, torrent, dir, false);
  }

  /** Refuses to distribute a release whose master copy is corrupt, naming the cause. */
  private requireSound(r: Release, field?: string): void {
    if (!r.corrupt) return;
    throw new FailedPreconditionError(
      `${field ? `${field}: ` : ""}release ${keyOf(r)} is corrupt on the master (${r.corruptMessage}); push it again to repair it`,
    );
  }

  private requireSeeder(): Seeder {
    if (!this.seeder) throw new FailedPreconditionError("the release store is not started");
    return this.seeder;
  }

  /** Whether `infoHash` is the torrent of a stored release (the tracker's filter). */
  knows(infoHash: string): boolean {
    return this.byInfoHash.has(infoHash.toLowerCase());
  }

  /** Where pushes are received before they are stored. */
  get uploadDir(): string {
    return this.files.tmpDir;
  }

  /** The peer port of the master's seeder (0 before start). */
  get seederPort(): number {
    return this.seeder?.port ?? 0;
  }

  // ---------------------------------------------------------------- the API

  /**
   * Stores an upload; in HA, then waits until enough standbys hold a verified copy
   * (UnderReplicatedError at the deadline: the release stays). The temporary file is always
   * consumed.
   */
  async push(up: ReceivedUpload): Promise<PushResponse> {
    const res = await this.store(up);
    // Success is reported for a release the registry holds durably.
    await this.committed();
    const replication = this.components.replication;
    if (!replication || !res.release) return res;
    const key = keyOf(res.release);
    // A push of bytes stored already waits too: pushing again is how an operator waits anew.
    await replication.held(res.release, this.files.readTorrent(res.release.infoHash));
    await replication.waitForCopies(key);
    return { ...res, copies: this.copyState(key) };
  }

  private async store(up: ReceivedUpload): Promise<PushResponse> {
    try {
      const h = up.header;
      const ref = {
        name: checkName(h.name, "header.name"),
        version: checkVersion(h.version, "header.version"),
      };
      const kind = checkKind(h.kind, "header.kind");
      const fileName = torrentFileName(ref, kind, h.fileName, "header.file_name");
      if (kind === "docker-image" && !h.image) {
        throw new InvalidArgumentError(
          "header.image",
          "is empty: a docker-image release names the image it holds",
        );
      }
      if (h.size > 0 && up.size !== h.size) {
        throw new InvalidArgumentError("header.size", `${h.size} bytes announced, ${up.size} received`);
      }
      if (up.size === 0) throw new InvalidArgumentError("data", "the release is empty (0 bytes)");
      const key = releaseKey(ref);
      return await this.locked(key, async () => {
        const existing = this.releases.get(key);
        if (existing?.corrupt && existing.sha256 === up.sha256) return this.repair(existing, up);
        if (existing) {
          if (existing.sha256 === up.sha256) return { release: existing, unchanged: true };
          throw new AlreadyExistsError(
            `release ${key} already exists with other bytes (stored sha256 ${existing.sha256}, pushed ${up.sha256}); push them as a new version`,
          );
        }
        const seeder = this.requireSeeder();
        const blob = this.files.adoptBlob(up.path, up.sha256);
        const built = await buildTorrent(blob, {
          fileName,
          size: up.size,
          announce: this.announceUrl,
          source: `yard:${key}`,
        });
        const release: Release = {
          name: ref.name,
          version: ref.version,
          sha256: up.sha256,
          size: up.size,
          infoHash: built.infoHash,
          pieceLength: built.pieceLength,
          createdAt: Date.now() / 1000,
          kind,
          fileName,
          image: h.image,
          corrupt: false,
          corruptMessage: "",
          verifiedAt: Date.now() / 1000,
        };
        this.files.writeTorrent(built.infoHash, built.torrent);
        this.components.store.putRelease(release);
        this.remember(release);
        const torrent = await withAnnounce(built.torrent, this.announce);
        this.torrents.set(key, torrent);
        const dir = this.files.prepareSeed(release.sha256, release.infoHash, fileName);
        await seeder.seed(release.infoHash, torrent, dir, false);
        this.log.info("release stored", { release: key, sha256: release.sha256, size: release.size });
        return { release, unchanged: false };
      });
    } finally {
      this.files.clearFile(up.path);
    }
  }

  /**
   * The same bytes pushed again over a corrupt copy (their sha256 was checked on receipt):
   * they replace the blob, and every release stored with that blob is seeded again.
   */
  private async repair(r: Release, up: ReceivedUpload): Promise<PushResponse> {
    this.files.replaceBlob(up.path, up.sha256);
    const at = Date.now() / 1000;
    for (const other of [...this.releases.values()].filter((o) => o.sha256 === r.sha256 && o.corrupt)) {
      const sound = { ...other, corrupt: false, corruptMessage: "", verifiedAt: at };
      this.releases.set(keyOf(other), sound);
      await this.seedStored(sound, true);
      this.log.info("corrupt release repaired by a push of its bytes", { release: keyOf(other) });
    }
    return { release: this.releases.get(keyOf(r))!, unchanged: false };
  }

  list(): Release[] {
    return [...this.releases.values()].sort((a, b) =>
      a.name !== b.name ? (a.name < b.name ? -1 : 1) : a.createdAt - b.createdAt,
    );
  }

  /** The releases with their copies on the other masters (HA; no copies on a single master). */
  listWithCopies(): ListReleasesResponse {
    const releases = this.list();
    if (!this.components.replication) return { releases, copies: [] };
    return { releases, copies: releases.map((r) => this.copyState(keyOf(r))!) };
  }

  /** The copies of `key` on the other masters (HA), or undefined on a single master. */
  private copyState(key: string): ReleaseCopyState | undefined {
    const c = this.components.replication?.copies(key);
    return c && { release: key, copies: c.copies, required: c.required, holders: c.holders };
  }

  /** Removes a release; refused while a framework pins it or a task that has not ended uses it. */
  async remove(text: string): Promise<void> {
    const key = releaseKey(parseReleaseRef(text));
    await this.locked(key, async () => {
      const release = this.requireRelease(key);
      const pinners = this.pins.pinners(key);
      if (pinners.length > 0) {
        const fws = this.frameworks();
        const shown = pinners.map((id) => `framework ${fws.get(id)?.name || "?"} (${id})`).join(", ");
        throw new FailedPreconditionError(
          `release ${key} is in use by ${shown}: deployed revision; deploy another release or delete the app first`,
        );
      }
      const users = this.components.cluster.tasksUsingRelease(key);
      if (users.length > 0) {
        const shown = users.slice(0, 5).join(", ") + (users.length > 5 ? ", ..." : "");
        throw new FailedPreconditionError(
          `release ${key} is in use by ${users.length} task(s) that have not ended (${shown}); kill them or wait for them to end`,
        );
      }
      const holders = this.book.forRelease(key).filter((r) => r.state !== "EVICTED");
      this.components.store.deleteRelease(release.name, release.version);
      this.releases.delete(key);
      this.byInfoHash.delete(release.infoHash);
      this.torrents.delete(key);
      this.book.removeRelease(key);
      this.components.tracker?.forget(release.infoHash);
      await this.seeder?.unseed(release.infoHash);
      const blobInUse = [...this.releases.values()].some((r) => r.sha256 === release.sha256);
      this.files.remove(release.sha256, release.infoHash, blobInUse);
      for (const h of holders)
        this.components.cluster.sendToAgent(h.agentId, { evictArtifact: { release: key } });
      await this.components.replication?.removed(key).catch((err) =>
        this.log.warn("cannot forget the copies of a removed release", {
          release: key,
          err,
        }),
      );
      this.log.info("release removed", { release: key, evictedFrom: holders.length });
    });
    await this.committed();
  }

  /** Runs `fn` once what the registry was told so far is durable (replies wait for it). */
  afterCommit(fn: () => void): void {
    this.components.store.afterCommit(fn);
  }

  private committed(): Promise<void> {
    return new Promise((resolve) => this.afterCommit(resolve));
  }

  /**
   * Replaces the releases a framework pins. The framework must be known and not removed, and
   * every release stored; otherwise nothing changes.
   */
  setPins(req: SetPinsRequest): void {
    const frameworkId = req.frameworkId.trim();
    if (!frameworkId) throw new InvalidArgumentError("framework_id", "is empty");
    const fw = this.frameworks().get(frameworkId);
    if (!fw) throw new NotFoundError(`framework_id: framework ${frameworkId} not found`);
    if (!fw.live) {
      throw new FailedPreconditionError(
        `framework_id: framework ${frameworkId} was removed; it cannot pin releases`,
      );
    }
    const keys = req.releases.map((text, i) => {
      const field = `releases[${i}]`;
      const key = releaseKey(parseReleaseRef(text, field));
      if (!this.releases.has(key)) throw new NotFoundError(`${field}: release ${key} not found`);
      return key;
    });
    this.pins.set(frameworkId, keys);
    this.log.info("release pins set", { framework: frameworkId, releases: keys.length });
  }

  /** The releases a framework pins (for tests and status). */
  pinsOf(frameworkId: string): string[] {
    return this.pins.of(frameworkId);
  }

  status(text: string): ReleaseStatus {
    const key = releaseKey(parseReleaseRef(text));
    const release = this.requireRelease(key);
    const hosts = this.agentIndex();
    return {
      release,
      copies: this.copyState(key),
      seeded: this.seeder?.isSeeding(release.infoHash) ?? false,
      agents: this.book.forRelease(key).map((r) => agentFetch(r, hosts.get(r.agentId))),
    };
  }

  /** The master seeder's counters for a release (bytes uploaded since the master started). */
  seedStats(text: string): SeedStats | undefined {
    const release = this.requireRelease(releaseKey(parseReleaseRef(text)));
    return this.seeder?.stats(release.infoHash);
  }

  torrent(text: string): TorrentFile {
    const key = releaseKey(parseReleaseRef(text));
    const release = this.requireRelease(key);
    const torrent = this.torrents.get(key);
    if (!torrent)
      throw new FailedPreconditionError(`the torrent of ${key} is not loaded (see the master's log)`);
    return { torrent, fileName: `${release.fileName}.torrent`, grantExpiresAt: 0, grantAddresses: [] };
  }

  /**
   * The torrent of a release for an outside client on `host`: its announce URL carries a grant
   * that lets that host announce it and fetch it from the master's seed for `ttlSeconds`.
   */
  async grantTorrent(text: string, host: string, ttlSeconds: number): Promise<TorrentFile> {
    const key = releaseKey(parseReleaseRef(text));
    const release = this.requireRelease(key);
    if (ttlSeconds * 1000 > MAX_GRANT_TTL_MS) {
      throw new InvalidArgumentError("ttl_seconds", `${ttlSeconds} s is more than a day`);
    }
    const grant = await this.components.swarm.grant(
      release.infoHash,
      host,
      ttlSeconds > 0 ? ttlSeconds * 1000 : undefined,
    );
    const torrent = await withAnnounce(
      this.files.readTorrent(release.infoHash),
      announceUrl(this.announceUrl, { grant: grant.token }),
    );
    this.log.info("torrent granted to an outside client", {
      release: key,
      host,
      addresses: grant.addresses.join(","),
      until: new Date(grant.expiresAt).toISOString(),
    });
    return {
      torrent,
      fileName: `${release.fileName}.torrent`,
      grantExpiresAt: grant.expiresAt / 1000,
      grantAddresses: grant.addresses,
    };
  }

  /** What an agent proves swarm membership with, given at each registration. */
  swarmCredentials(agentId: string): { swarmKey: Buffer; swarmPasskey: string } {
    return { swarmKey: this.components.swarm.key, swarmPasskey: this.components.swarm.passkeyFor(agentId) };
  }

  /**
   * The master's own swarm credentials, for a process that acts for the master itself (the
   * distribution benchmark's fetchers, which are not registered agents).
   */
  masterSwarmCredentials(): { swarmKey: Buffer; swarmPasskey: string } {
    return { swarmKey: this.components.swarm.key, swarmPasskey: this.components.swarm.masterPasskey() };
  }

  /** Stages a release on agents (all active ones when none are named); idempotent. */
  stage(req: StageRequest): StageStatus {
    const { key, targets } = this.stageTargets(req);
    for (const agentId of this.book.stage(key, targets)) this.sendFetch(agentId, key);
    return this.stageStatus(key, targets);
  }

  /**
   * Stages like `stage`, then hands every change of the targets' progress to `send` until
   * they are all DONE or one FAILED; then calls `end()`. `end(err)` when the release is
   * removed meanwhile. Returns a function that stops watching.
   */
  watchStage(req: StageRequest, send: (s: StageStatus) => void, end: (err?: unknown) => void): () => void {
    const { key, targets } = this.stageTargets(req);
    for (const agentId of this.book.stage(key, targets)) this.sendFetch(agentId, key);
    let last = "";
    let finished = false;
    const finish = (err?: unknown) => {
      finished = true;
      unsubscribe();
      clearInterval(timer);
      end(err);
    };
    const emit = () => {
      if (finished) return;
      if (!this.releases.has(key)) return finish(new NotFoundError(`release ${key} was removed`));
      const s = this.stageStatus(key, targets);
      const encoded = JSON.stringify(StageStatus.toJSON(s));
      if (encoded !== last) {
        last = encoded;
        send(s);
      }
      if (s.complete || s.failed) finish();
    };
    const unsubscribe = this.book.subscribe((release) => {
      if (release === key) emit();
    });
    // Agents that get lost send nothing: look at them now and then.
    const timer = setInterval(emit, this.init.watchRecheckMs ?? 2000);
    timer.unref();
    emit();
    return () => {
      if (finished) return;
      finished = true;
      unsubscribe();
      clearInterval(timer);
    };
  }

  private stageTargets(req: StageRequest): { key: string; targets: string[] } {
    const key = releaseKey(parseReleaseRef(req.release));
    this.requireSound(this.requireRelease(key));
    const agents = this.agentIndex();
    if (req.agentIds.length === 0) {
      const targets = [...agents.values()].filter((a) => a.status === "ACTIVE").map((a) => a.id);
      return { key, targets: targets.sort() };
    }
    const targets = [...new Set(req.agentIds)];
    targets.forEach((id, i) => {
      const a = agents.get(id);
      if (!a) throw new NotFoundError(`agent_ids[${i}]: agent ${id} not found`);
    });
    return { key, targets };
  }

  private stageStatus(key: string, targets: readonly string[]): StageStatus {
    const hosts = this.agentIndex();
    const size = this.releases.get(key)?.size ?? 0;
    const agents = targets.map((id) => {
      const r = this.book.get(key, id);
      const host = hosts.get(id);
      const a = r ? agentFetch(r, host) : pendingFetch(id, host, size);
      // An agent cut off (UNREACHABLE) or gone (LOST) is infrastructure, not a fault of the
      // release: staging does not wait for it nor fail because of it. It gets no offers while
      // it is away, and a task placed on it later fetches the release before it starts.
      if (a.state !== "DONE" && (host?.status === "UNREACHABLE" || host?.status === "LOST")) {
        const how = host.status === "LOST" ? "gone" : "unreachable";
        return { ...a, state: host.status, error: `agent ${id} is ${how}; skipped` };
      }
      return a;
    });
    return { release: key, agents, ...stagingVerdict(agents) };
  }

  // ---------------------------------------------------------------- ReleaseHooks

  agentRegistered(agentId: string, artifacts: readonly CachedArtifact[]): void {
    for (const key of this.book.registered(agentId, artifacts)) this.sendFetch(agentId, key);
  }

  fetchProgress(agentId: string, progress: FetchProgress): void {
    if (!this.book.progress(agentId, progress)) {
      this.log.debug("ignored a fetch report", {
        agent: agentId,
        release: progress.release,
        state: progress.state,
      });
      return;
    }
    if (progress.state === "DONE" || progress.state === "FAILED") {
      const clock = `${progress.release}\u0000${agentId}`;
      const started = this.fetchStartedMs.get(clock);
      this.fetchStartedMs.delete(clock);
      const size = this.releases.get(progress.release)?.size ?? 0;
      if (started !== undefined && progress.state === "DONE")
        this.components.cluster.fetchDone?.(size, (Date.now() - started) / 1000);
    }
    if (progress.state === "FAILED") {
      this.log.warn("an agent failed to fetch a release", {
        agent: agentId,
        release: progress.release,
        error: progress.error,
      });
    }
  }

  checkTaskRelease(release: string, field: string): void {
    if (release === "") return;
    const r = this.releases.get(release);
    if (!r) throw new InvalidArgumentError(field, `"${release}" is not a known release`);
    this.requireSound(r, field);
  }

  artifactFor(release: string): FetchArtifact | undefined {
    const r = release ? this.releases.get(release) : undefined;
    const torrent = r && this.torrents.get(release);
    if (!r || !torrent || r.corrupt) return undefined;
    return { release, sha256: r.sha256, torrent, kind: r.kind, size: r.size };
  }

  releasesHeldBy(agentId: string): string[] {
    return this.book.heldBy(agentId);
  }

  // ---------------------------------------------------------------- helpers

  private sendFetch(agentId: string, key: string): void {
    const artifact = this.artifactFor(key);
    if (!artifact) return;
    // The first command of a fetch starts its clock; a resend (re-registration) does not.
    const clock = `${key}\u0000${agentId}`;
    if (!this.fetchStartedMs.has(clock)) this.fetchStartedMs.set(clock, Date.now());
    // An agent that is not connected gets it when it registers again.
    this.components.cluster.sendToAgent(agentId, { fetchArtifact: artifact });
  }

  private remember(r: Release): void {
    this.releases.set(keyOf(r), r);
    this.byInfoHash.set(r.infoHash, keyOf(r));
  }

  private requireRelease(key: string): Release {
    const r = this.releases.get(key);
    if (!r) throw new NotFoundError(`release ${key} not found`);
    return r;
  }

  /** Frameworks the master knows, by id: their name and whether they are not removed. */
  private frameworks(): Map<string, { name: string; live: boolean }> {
    const out = new Map<string, { name: string; live: boolean }>();
    for (const f of this.components.cluster.frameworkStates()) {
      if (f.info) out.set(f.info.id, { name: f.info.name, live: f.status !== "INACTIVE" });
    }
    return out;
  }

  private agentIndex(): Map<string, AgentHost> {
    const out = new Map<string, AgentHost>();
    for (const a of this.components.cluster.agentStates()) {
      if (a.info) out.set(a.info.id, { id: a.info.id, hostname: a.info.hostname, status: a.status });
    }
    return out;
  }

  /** Runs `fn` after every earlier call for the same key has settled. */
  private async locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(key) ?? Promise.resolve();
    const run = before.then(fn);
    const tail = run.catch(() => undefined);
    this.locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    }
  }
}

interface AgentHost {
  id: string;
  hostname: string;
  status: string;
}

function keyOf(r: Release): string {
  return `${r.name}@${r.version}`;
}

function agentFetch(r: FetchRecord, host: AgentHost | undefined): AgentFetch {
  return {
    agentId: r.agentId,
    hostname: host?.hostname ?? "",
    state: r.state,
    downloaded: r.downloaded,
    uploaded: r.uploaded,
    size: r.size,
    downloadRate: r.downloadRate,
    uploadRate: r.uploadRate,
    error: r.error,
    updatedAt: r.updatedAt,
  };
}

function pendingFetch(agentId: string, host: AgentHost | undefined, size: number): AgentFetch {
  return {
    agentId,
    hostname: host?.hostname ?? "",
    state: "PENDING",
    downloaded: 0,
    uploaded: 0,
    size,
    downloadRate: 0,
    uploadRate: 0,
    error: "",
    updatedAt: 0,
  };
}

/**
 * The tracker URL with credentials in its query (a passkey or a grant), as private trackers
 * carry them; the one place that builds such a URL, whatever its scheme.
 */
export function announceUrl(base: string, credentials: Record<string, string>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(credentials)) url.searchParams.set(k, v);
  return url.toString();
}
