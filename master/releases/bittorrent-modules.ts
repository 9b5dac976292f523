// The parts of create-torrent, parse-torrent and bittorrent-tracker that the master uses,
// typed here because the packages ship no types. They are loaded through a computed
// specifier so that the compiler does not look for declarations the packages lack.
import type { IncomingMessage, ServerResponse } from "node:http";

export interface ParsedTorrent {
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  lastPieceLength: number;
  pieces: string[];
  private?: boolean;
  announce: string[];
  urlList: string[];
  files: { name: string; path: string; length: number; offset: number }[];
  created?: Date;
  createdBy?: string;
  comment?: string;
  /** The decoded info dictionary, re-encoded unchanged by toTorrentFile. */
  info: unknown;
}

export interface CreateTorrentOptions {
  name: string;
  pieceLength: number;
  private: boolean;
  announceList: string[][];
  createdBy: string;
  /** Extra keys of the info dictionary. */
  info?: Record<string, string>;
}

export type CreateTorrent = (
  input: string,
  opts: CreateTorrentOptions,
  cb: (err: Error | null, torrent: Uint8Array) => void,
) => void;

export interface ParseTorrentModule {
  default: (torrent: Uint8Array) => Promise<ParsedTorrent>;
  toTorrentFile: (parsed: Partial<ParsedTorrent> & { info: unknown }) => Uint8Array;
}

export interface TrackerServerOptions {
  http: false;
  udp: false;
  ws: false;
  stats: false;
  /** Announce interval handed to clients, in ms. */
  interval: number;
  trustProxy: boolean;
  filter: (infoHash: string, params: unknown, cb: (err: Error | null) => void) => void;
}

export interface TrackerServer {
  torrents: Record<string, { peers: { keys: string[] } } | undefined>;
  onHttpRequest(req: IncomingMessage, res: ServerResponse, opts?: { action?: "announce" | "scrape" }): void;
  on(event: "warning" | "error", cb: (err: Error) => void): void;
  close(cb?: () => void): void;
}

export type TrackerServerCtor = new (opts: TrackerServerOptions) => TrackerServer;

const load = (name: string): Promise<any> => import(name);

export async function loadCreateTorrent(): Promise<CreateTorrent> {
  return (await load("create-torrent")).default as CreateTorrent;
}

export async function loadParseTorrent(): Promise<ParseTorrentModule> {
  return (await load("parse-torrent")) as ParseTorrentModule;
}

export async function loadTrackerServer(): Promise<TrackerServerCtor> {
  return (await load("bittorrent-tracker")).Server as TrackerServerCtor;
}
