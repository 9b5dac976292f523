// The release store's files under <master data dir>/releases/:
//   blobs/<sha256>                      the bytes, content-addressed (one copy per content)
//   seed/<info hash>/<file name>        a hard link to the blob, where the seeder finds it
//   torrents/<info hash>.torrent        the metainfo as built (its announce URL is rewritten
//                                       for the master's current address when served)
//   tmp/                                pushes in progress; emptied at start
//   replica/                            a standby's fetcher cache (HA, release-replica.ts):
//                                       its verified files are hard links to the blobs
import {
  copyFileSync,
  createReadStream,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { join } from "node:path";

export class ReleaseFiles {
  readonly root: string;
  readonly tmpDir: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, "releases");
    this.tmpDir = join(this.root, "tmp");
    for (const d of ["blobs", "seed", "torrents", "tmp"]) mkdirSync(join(this.root, d), { recursive: true });
  }

  /** Deletes what interrupted pushes left behind. */
  clearTmp(): void {
    rmSync(this.tmpDir, { recursive: true, force: true });
    mkdirSync(this.tmpDir, { recursive: true });
  }

  /** Deletes a file if it is still there (a push's temporary file after it was adopted). */
  clearFile(path: string): void {
    rmSync(path, { force: true });
  }

  blobPath(sha256: string): string {
    return join(this.root, "blobs", sha256);
  }

  seedDir(infoHash: string): string {
    return join(this.root, "seed", infoHash);
  }

  /** Moves a pushed file into the blob store, unless those bytes are stored already. */
  adoptBlob(tmpPath: string, sha256: string): string {
    const blob = this.blobPath(sha256);
    if (existsSync(blob)) rmSync(tmpPath, { force: true });
    else renameSync(tmpPath, blob);
    return blob;
  }

  /** Size of the stored blob, or undefined when it is missing. */
  blobSize(sha256: string): number | undefined {
    try {
      return statSync(this.blobPath(sha256)).size;
    } catch {
      return undefined;
    }
  }

  /**
   * Checks a stored blob against its size and sha256; returns what is wrong with it, or
   * undefined when it is sound. Streams the file, so the event loop stays free meanwhile.
   */
  async checkBlob(sha256: string, size: number, signal?: AbortSignal): Promise<string | undefined> {
    const path = this.blobPath(sha256);
    const actual = this.blobSize(sha256);
    if (actual === undefined) return `its blob ${path} is missing`;
    if (actual !== size) return `its blob ${path} is ${actual} bytes, not ${size}`;
    const hash = createHash("sha256");
    try {
      for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal }))
        hash.update(chunk);
    } catch (err) {
      if (signal?.aborted) throw err;
      return `its blob ${path} cannot be read: ${(err as Error).message}`;
    }
    const digest = hash.digest("hex");
    return digest === sha256 ? undefined : `its blob ${path} has sha256 ${digest}, not ${sha256}`;
  }

  /** Replaces a stored blob by a pushed file whose sha256 was checked on receipt. */
  replaceBlob(tmpPath: string, sha256: string): void {
    renameSync(tmpPath, this.blobPath(sha256));
  }

  /** Forgets the seed dir, so that the next prepareSeed links the current blob. */
  clearSeed(infoHash: string): void {
    rmSync(this.seedDir(infoHash), { recursive: true, force: true });
  }

  /** Puts the blob where the seeder expects the torrent's file; returns the seed dir. */
  prepareSeed(sha256: string, infoHash: string, fileName: string): string {
    const dir = this.seedDir(infoHash);
    mkdirSync(dir, { recursive: true });
    const target = join(dir, fileName);
    if (!existsSync(target)) {
      try {
        linkSync(this.blobPath(sha256), target);
      } catch {
        copyFileSync(this.blobPath(sha256), target);
      }
    }
    return dir;
  }

  torrentPath(infoHash: string): string {
    return join(this.root, "torrents", `${infoHash}.torrent`);
  }

  writeTorrent(infoHash: string, torrent: Uint8Array): void {
    const path = this.torrentPath(infoHash);
    writeFileSync(`${path}.tmp`, torrent);
    renameSync(`${path}.tmp`, path);
  }

  readTorrent(infoHash: string): Buffer {
    return readFileSync(join(this.root, "torrents", `${infoHash}.torrent`));
  }

  /** The sha256 of every stored blob. */
  blobHashes(): string[] {
    return readdirSync(join(this.root, "blobs")).filter((n) => /^[0-9a-f]{64}$/.test(n));
  }

  /** The info hash of every stored torrent. */
  torrentHashes(): string[] {
    return readdirSync(join(this.root, "torrents"))
      .filter((n) => /^[0-9a-f]{40}\.torrent$/.test(n))
      .map((n) => n.slice(0, 40));
  }

  /** Deletes a release's torrent and seed dir, and its blob unless `blobInUse`. */
  remove(sha256: string, infoHash: string, blobInUse: boolean): void {
    rmSync(this.seedDir(infoHash), { recursive: true, force: true });
    rmSync(join(this.root, "torrents", `${infoHash}.torrent`), { force: true });
    if (!blobInUse) rmSync(this.blobPath(sha256), { force: true });
  }
}
