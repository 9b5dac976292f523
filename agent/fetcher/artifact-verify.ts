// Whole-artifact verification: the piece hashes of a torrent only prove that the bytes match
// the torrent; the sha256 that the master recorded at push time proves that the torrent
// (and the bytes) are the release. An artifact is used only after both.
import { createHash } from "node:crypto";
import fs from "node:fs";

export type VerifyResult =
  | { ok: true }
  | { ok: false; problem: "missing" | "truncated" | "oversized" | "mismatch"; detail: string };

/**
 * Reads the file through sha256 in 1 MiB steps, into one buffer reused step after step: a
 * fresh buffer per step costs the kernel zeroed pages each time, more than the hashing.
 */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  const fd = await fs.promises.open(file, "r");
  try {
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    for (;;) {
      const { bytesRead } = await fd.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
  return hash.digest("hex");
}

/**
 * Checks that `file` holds exactly `size` bytes whose sha256 is `sha256`. The size is checked
 * first so that a truncated file is named as such without hashing it.
 */
export async function verifyArtifact(file: string, sha256: string, size: number): Promise<VerifyResult> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    return { ok: false, problem: "missing", detail: `${file} does not exist` };
  }
  if (st.size < size) {
    return {
      ok: false,
      problem: "truncated",
      detail: `${file} has ${st.size} bytes, the release has ${size}`,
    };
  }
  if (st.size > size) {
    return {
      ok: false,
      problem: "oversized",
      detail: `${file} has ${st.size} bytes, the release has ${size}`,
    };
  }
  const actual = await sha256File(file);
  if (actual !== sha256.toLowerCase()) {
    return {
      ok: false,
      problem: "mismatch",
      detail: `sha256 of ${file} is ${actual}, the release's is ${sha256}`,
    };
  }
  return { ok: true };
}
