// The web UI's files: plain HTML, CSS and JavaScript kept in master/ui/assets/ and shipped
// with the package (no build step of their own, no CDN, no network). They are read once, when
// the first master instance starts, and served from memory with an ETag.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

export interface UiAsset {
  body: Buffer;
  type: string;
  etag: string;
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".svg": "image/svg+xml",
};

/**
 * Where the files are: next to this module when a packaging step copied them, else in the
 * package's source tree (this module runs from dist/master/ui/, three levels below the root).
 */
function assetDir(): string {
  const candidates = [
    new URL("./assets/", import.meta.url),
    new URL("../../../master/ui/assets/", import.meta.url),
  ];
  for (const c of candidates) {
    const dir = fileURLToPath(c);
    if (existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error("the web UI's files (master/ui/assets/) are missing from this installation");
}

let loaded: Map<string, UiAsset> | undefined;

/** The UI's files by name ("index.html", "app.js", ...). */
export function uiAssets(): Map<string, UiAsset> {
  if (loaded) return loaded;
  const dir = assetDir();
  const out = new Map<string, UiAsset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(`${dir}${name}`);
    out.set(name, { body, type, etag: `"${createHash("sha256").update(body).digest("hex").slice(0, 16)}"` });
  }
  loaded = out;
  return out;
}
