// The agent's artifact cache on disk. One directory per release:
//   <cache dir>/<NAME@VERSION>/meta.json      what the master said, whether it is verified, last use
//   <cache dir>/<NAME@VERSION>/release.torrent the metainfo, so that a fetch resumes and the
//                                              agent seeds again after a restart
//   <cache dir>/<NAME@VERSION>/data/<file>     the artifact itself (the swarm engine's download path)
// meta.json is replaced atomically (write + rename), so a crash leaves the old or the new one.
// `verified` means the whole file matched the release's sha256 when last checked; it is
// cleared before any re-fetch, so a half-written file is never taken for a verified one.
import fs from "node:fs";
import path from "node:path";
import { InvalidArgumentError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";

export type ArtifactKind = "file" | "tar" | "docker-image";
export const ARTIFACT_KINDS: readonly ArtifactKind[] = ["file", "tar", "docker-image"];

export interface CacheEntry {
  release: string;
  sha256: string;
  size: number;
  kind: ArtifactKind;
  /** The file's name inside data/ (the torrent's name); known once the torrent is read. */
  fileName: string;
  verified: boolean;
  /** Milliseconds since the epoch of the last fetch or use, for LRU eviction. */
  lastUsed: number;
}

/** NAME@VERSION, safe as a directory name. */
const RELEASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export function checkRelease(release: string): void {
  if (!RELEASE_PATTERN.test(release)) {
    throw new InvalidArgumentError("release", `"${release}" is not NAME@VERSION (letters, digits, . _ - +)`);
  }
}

export function checkSha256(sha256: string): void {
  if (!SHA256_PATTERN.test(sha256)) {
    throw new InvalidArgumentError("sha256", `"${sha256}" is not 64 lowercase hex digits`);
  }
}

export function checkKind(kind: string): ArtifactKind {
  if (kind === "") return "file";
  if (!(ARTIFACT_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidArgumentError("kind", `"${kind}" is not one of ${ARTIFACT_KINDS.join(", ")}`);
  }
  return kind as ArtifactKind;
}

export class ArtifactCache {
  private readonly entries = new Map<string, CacheEntry>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** Reads every release directory; directories without a readable meta.json are removed. */
  load(): CacheEntry[] {
    this.entries.clear();
    for (const name of fs.readdirSync(this.dir)) {
      const dir = path.join(this.dir, name);
      if (!fs.statSync(dir).isDirectory()) continue;
      try {
        const meta = JSON.parse(fs.readFileSync(path.join(dir, "meta.json"), "utf8")) as CacheEntry;
        checkRelease(meta.release);
        checkSha256(meta.sha256);
        if (meta.release !== name) throw new Error(`meta.json names ${meta.release}`);
        this.entries.set(meta.release, meta);
      } catch (err) {
        this.log.warn("unreadable cache entry removed", { dir: name, err });
        fs.rmSync(dir, { recursive: true, force: true });
      }
    }
    return this.all();
  }

  all(): CacheEntry[] {
    return [...this.entries.values()];
  }

  get(release: string): CacheEntry | undefined {
    return this.entries.get(release);
  }

  totalBytes(): number {
    let sum = 0;
    for (const e of this.entries.values()) sum += e.size;
    return sum;
  }

  releaseDir(release: string): string {
    return path.join(this.dir, release);
  }

  dataDir(release: string): string {
    return path.join(this.releaseDir(release), "data");
  }

  torrentPath(release: string): string {
    return path.join(this.releaseDir(release), "release.torrent");
  }

  artifactPath(entry: CacheEntry): string {
    return path.join(this.dataDir(entry.release), entry.fileName);
  }

  readTorrent(release: string): Buffer | undefined {
    try {
      return fs.readFileSync(this.torrentPath(release));
    } catch {
      return undefined;
    }
  }

  /** Records (or replaces) an entry, with its torrent when given. */
  put(entry: CacheEntry, torrent?: Uint8Array): void {
    checkRelease(entry.release);
    const dir = this.releaseDir(entry.release);
    fs.mkdirSync(path.join(dir, "data"), { recursive: true });
    if (torrent) writeAtomic(this.torrentPath(entry.release), torrent);
    writeAtomic(path.join(dir, "meta.json"), JSON.stringify(entry));
    this.entries.set(entry.release, { ...entry });
  }

  update(release: string, change: Partial<Omit<CacheEntry, "release">>): CacheEntry | undefined {
    const e = this.entries.get(release);
    if (!e) return undefined;
    const next = { ...e, ...change };
    this.put(next);
    return next;
  }

  touch(release: string, now = Date.now()): void {
    this.update(release, { lastUsed: now });
  }

  remove(release: string): void {
    this.entries.delete(release);
    fs.rmSync(this.releaseDir(release), { recursive: true, force: true });
  }
}

function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}
