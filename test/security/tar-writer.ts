// Writes small ustar archives entry by entry, so that a test can put into a release what no
// well-behaved tool would (a hard link to `../../etc/hostname`, a setuid file owned by root).
import fs from "node:fs";

export interface TarEntry {
  name: string;
  /** "0" file, "1" hard link, "2" symbolic link, "5" directory. */
  type: "0" | "1" | "2" | "5";
  mode?: number;
  linkname?: string;
  data?: string;
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, "0")}\0`;
}

function header(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, "utf8");
  h.write(octal(e.mode ?? (e.type === "5" ? 0o755 : 0o644), 8), 100, "ascii");
  h.write(octal(0, 8), 108, "ascii");
  h.write(octal(0, 8), 116, "ascii");
  h.write(octal(size, 12), 124, "ascii");
  h.write(octal(0, 12), 136, "ascii");
  h.write("        ", 148, "ascii");
  h.write(e.type, 156, "ascii");
  h.write(e.linkname ?? "", 157, 100, "utf8");
  h.write("ustar\0", 257, "ascii");
  h.write("00", 263, "ascii");
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "ascii");
  return h;
}

export function writeTar(file: string, entries: TarEntry[]): void {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.type === "0" ? (e.data ?? "") : "");
    blocks.push(header(e, data.length));
    if (data.length > 0) blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  fs.writeFileSync(file, Buffer.concat(blocks));
}
