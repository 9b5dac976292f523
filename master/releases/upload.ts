// Receives a push (header, then bytes) into a temporary file under the release store, hashing
// the bytes with sha256 on the way. Backpressure: the next chunk is read only once the
// previous one is written.
import { createHash, randomUUID } from "node:crypto";
import { createWriteStream, mkdirSync, rmSync } from "node:fs";
import { once } from "node:events";
import { join } from "node:path";
import { InvalidArgumentError } from "../../common/errors.js";
import type { PushChunk, PushHeader } from "../../proto/gen/yard/v1/release.js";

export interface ReceivedUpload {
  header: PushHeader;
  /** The temporary file; the caller moves or deletes it. */
  path: string;
  sha256: string;
  size: number;
}

export async function receiveUpload(
  chunks: AsyncIterable<PushChunk>,
  tmpDir: string,
): Promise<ReceivedUpload> {
  mkdirSync(tmpDir, { recursive: true });
  const path = join(tmpDir, `push-${randomUUID()}`);
  const out = createWriteStream(path);
  const hash = createHash("sha256");
  let header: PushHeader | undefined;
  let size = 0;
  try {
    for await (const chunk of chunks) {
      if (!header) {
        if (!chunk.header)
          throw new InvalidArgumentError("header", "the first message of a push must carry the header");
        header = chunk.header;
      } else if (chunk.header) {
        throw new InvalidArgumentError("header", "only the first message of a push may carry the header");
      }
      const data = chunk.data;
      if (data.length === 0) continue;
      size += data.length;
      if (header.size > 0 && size > header.size) {
        throw new InvalidArgumentError("header.size", `${header.size} bytes announced, more were sent`);
      }
      hash.update(data);
      if (!out.write(data)) await once(out, "drain");
    }
    if (!header) throw new InvalidArgumentError("header", "the push carried no message");
    out.end();
    await once(out, "finish");
    return { header, path, sha256: hash.digest("hex"), size };
  } catch (err) {
    out.destroy();
    rmSync(path, { force: true });
    throw err;
  }
}
