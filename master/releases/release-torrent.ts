// BitTorrent v1 metainfo for releases. A release's torrent is single-file, private (so that
// clients use no DHT and no peer exchange), and its only tracker is the master's own. The
// announce URL lies outside the info dictionary, so it can be rewritten when the master's
// address changes (e.g. a restart on another port) without changing the info hash.
import { loadCreateTorrent, loadParseTorrent, type ParsedTorrent } from "./bittorrent-modules.js";

export const MIN_PIECE_LENGTH = 1024 * 1024;
export const MAX_PIECE_LENGTH = 4 * 1024 * 1024;
/** Aim for at most this many pieces: fewer, larger pieces cost less CPU per byte. */
const TARGET_PIECES = 2000;

/** Power of two between MIN_ and MAX_PIECE_LENGTH giving about TARGET_PIECES pieces or fewer. */
export function choosePieceLength(size: number): number {
  let len = MIN_PIECE_LENGTH;
  while (len < MAX_PIECE_LENGTH && size / len > TARGET_PIECES) len *= 2;
  return len;
}

export interface BuiltTorrent {
  /** The .torrent file. */
  torrent: Buffer;
  infoHash: string;
  pieceLength: number;
}

/**
 * Hashes `path` into a torrent whose file is called `fileName` (the path's own name does
 * not matter: blobs are stored under their sha256). `source` is e.g. "yard:web@1.0".
 */
export async function buildTorrent(
  path: string,
  opts: { fileName: string; size: number; announce: string; source: string },
): Promise<BuiltTorrent> {
  const createTorrent = await loadCreateTorrent();
  const pieceLength = choosePieceLength(opts.size);
  const raw = await new Promise<Uint8Array>((resolve, reject) =>
    createTorrent(
      path,
      {
        name: opts.fileName,
        pieceLength,
        private: true,
        announceList: [[opts.announce]],
        createdBy: "Yard",
        // "source" in the info dictionary (as private trackers use it) makes the info hash
        // unique per release, even when two releases hold the same bytes under one file name.
        info: { source: opts.source },
      },
      (err, torrent) => (err ? reject(err) : resolve(torrent)),
    ),
  );
  const parsed = await parseTorrentFile(raw);
  return { torrent: Buffer.from(raw), infoHash: parsed.infoHash, pieceLength: parsed.pieceLength };
}

export async function parseTorrentFile(torrent: Uint8Array): Promise<ParsedTorrent> {
  const { default: parse } = await loadParseTorrent();
  return parse(torrent);
}

/**
 * The same torrent (same info hash) announcing only to `announce`: one URL, or several (every
 * master of an HA cluster, the leader's first), each its own tier of the announce-list.
 */
export async function withAnnounce(
  torrent: Uint8Array,
  announce: string | readonly string[],
): Promise<Buffer> {
  const urls = typeof announce === "string" ? [announce] : [...announce];
  const mod = await loadParseTorrent();
  const parsed = await mod.default(torrent);
  if (parsed.announce.length === urls.length && parsed.announce.every((u, i) => u === urls[i]))
    return Buffer.from(torrent);
  const out = mod.toTorrentFile({
    info: parsed.info,
    announce: urls,
    urlList: [],
    created: parsed.created,
    createdBy: parsed.createdBy,
    comment: parsed.comment,
  });
  return Buffer.from(out);
}
