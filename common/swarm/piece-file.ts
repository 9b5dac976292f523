// A torrent's single file, read and written by position: a piece goes to disk in one write
// once it is whole and verified, and a block is served with one read. No chunk store, no read
// cache (the session keeps the few pieces it just completed in memory, and the page cache
// does the rest), no per-block copies.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Bitfield } from "./bitfield.js";

export class PieceFile {
  private constructor(
    readonly file: string,
    private readonly fd: fs.promises.FileHandle,
    readonly length: number,
    readonly pieceLength: number,
    private readonly hashes: Buffer[],
    /** The file did not exist: nothing on it to check. */
    private readonly created: boolean,
  ) {}

  /** Opens `file` (creating it, sparse, when missing) at exactly `length` bytes. */
  static async open(file: string, length: number, pieceLength: number, hashes: Buffer[]): Promise<PieceFile> {
    await fs.promises.mkdir(path.dirname(file), { recursive: true });
    let fd: fs.promises.FileHandle;
    let created = false;
    try {
      fd = await fs.promises.open(file, "r+");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      fd = await fs.promises.open(file, "w+");
      created = true;
    }
    try {
      const st = await fd.stat();
      if (st.size !== length) await fd.truncate(length);
    } catch (err) {
      await fd.close();
      throw err;
    }
    return new PieceFile(file, fd, length, pieceLength, hashes, created);
  }

  get pieceCount(): number {
    return this.hashes.length;
  }

  pieceBytes(piece: number): number {
    return Math.min(this.pieceLength, this.length - piece * this.pieceLength);
  }

  /** The piece's bytes match the torrent's SHA-1 for it. */
  matches(piece: number, bytes: Uint8Array): boolean {
    const want = this.hashes[piece];
    return want !== undefined && createHash("sha1").update(bytes).digest().equals(want);
  }

  async read(piece: number, begin: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await this.fd.read(buf, 0, length, piece * this.pieceLength + begin);
    if (bytesRead !== length)
      throw new Error(`short read of piece ${piece}: ${bytesRead} of ${length} bytes`);
    return buf;
  }

  /** Reads the whole of `piece` into `buf` (at least the piece's size). */
  async readInto(buf: Buffer, piece: number): Promise<void> {
    const n = this.pieceBytes(piece);
    const { bytesRead } = await this.fd.read(buf, 0, n, piece * this.pieceLength);
    if (bytesRead !== n) throw new Error(`short read of piece ${piece}: ${bytesRead} of ${n} bytes`);
  }

  async writePiece(piece: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    while (done < bytes.length) {
      const { bytesWritten } = await this.fd.write(
        bytes,
        done,
        bytes.length - done,
        piece * this.pieceLength + done,
      );
      done += bytesWritten;
    }
  }

  /** Hashes every piece on disk: the ones that match are held (a resumed fetch keeps them). */
  async check(): Promise<Bitfield> {
    const have = new Bitfield(this.pieceCount);
    // A new file is all holes: reading them only costs the kernel zeroed pages.
    if (this.created) return have;
    const buf = Buffer.allocUnsafe(this.pieceLength);
    for (let p = 0; p < this.pieceCount; p++) {
      const n = this.pieceBytes(p);
      const { bytesRead } = await this.fd.read(buf, 0, n, p * this.pieceLength);
      if (bytesRead === n && this.matches(p, buf.subarray(0, n))) have.set(p);
    }
    return have;
  }

  close(): Promise<void> {
    return this.fd.close().catch(() => undefined);
  }
}
