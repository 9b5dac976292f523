// Real BitTorrent parts for the fetcher's tests, all on 127.0.0.1: a bittorrent-tracker,
// torrents made by create-torrent with that tracker as the only announce URL, and seeders
// running Yard's swarm engine (optionally serving a file whose bytes do not match the torrent).
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { FetchArtifact } from "../../../proto/gen/yard/v1/agent.js";
import { silentLogger } from "../../../common/logger.js";
import { SwarmEngine } from "../../../common/swarm/swarm-engine.js";

/** The private swarm's key in these tests: the seeders prove it, the fetchers are given it. */
export const SWARM_KEY = randomBytes(32);
export const SWARM_PASSKEY = "test-passkey";

export interface Tracker {
  announce: string;
  close(): Promise<void>;
}

async function load<T>(name: string): Promise<T> {
  return ((await import(name)) as { default: T }).default;
}

export async function startTracker(): Promise<Tracker> {
  type ServerCtor = new (
    opts: Record<string, unknown>,
  ) => {
    listen(port: number, host: string, cb: () => void): void;
    http: { address(): { port: number } };
    on(e: string, cb: (err: unknown) => void): void;
    close(cb: () => void): void;
  };
  const { Server } = (await import("bittorrent-tracker" as string)) as { Server: ServerCtor };
  const server = new Server({ http: true, udp: false, ws: false, stats: false });
  server.on("warning", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.http.address().port;
  return {
    announce: `http://127.0.0.1:${port}/announce`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A file of random bytes; resolves its path and sha256. */
export function randomFile(dir: string, name: string, size: number): { file: string; sha256: string } {
  const data = randomBytes(size);
  const file = path.join(dir, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(file, data);
  return { file, sha256: createHash("sha256").update(data).digest("hex") };
}

export async function makeTorrent(file: string, announce: string, pieceLength = 256 * 1024): Promise<Buffer> {
  type Create = (
    input: string,
    opts: Record<string, unknown>,
    cb: (err: Error | null, t: Buffer) => void,
  ) => void;
  const createTorrent = await load<Create>("create-torrent");
  return new Promise((resolve, reject) =>
    createTorrent(
      file,
      { announceList: [[announce]], urlList: [], pieceLength, private: false, createdBy: "yard-test" },
      (err, t) => (err ? reject(err) : resolve(t)),
    ),
  );
}

export interface Seeder {
  engine: SwarmEngine;
  close(): Promise<void>;
}

/**
 * Seeds `torrent` from `dir` (which holds the torrent's file). With `trustDisk`, the seeder
 * does not check its file against the piece hashes: it serves whatever bytes are there.
 */
export async function startSeeder(
  dir: string,
  torrent: Buffer,
  opts: { trustDisk?: boolean; uploadRate?: number } = {},
): Promise<Seeder> {
  const engine = await SwarmEngine.create({
    listenHost: "127.0.0.1",
    uploadLimit: opts.uploadRate,
    swarmKey: () => SWARM_KEY,
    log: silentLogger,
  });
  await engine.add(torrent, { path: dir, skipVerify: opts.trustDisk });
  return { engine, close: () => engine.destroy() };
}

export function request(
  release: string,
  sha256: string,
  torrent: Buffer,
  size: number,
  kind = "file",
): FetchArtifact {
  return { release, sha256, torrent, kind, size };
}
