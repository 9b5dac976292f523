// What `yardctl release ls` and `get releases` show of the master's release store. Pure:
// the ListReleases answer and the current time in, table text out.
import type { ListReleasesResponse, Release, ReleaseCopyState } from "../proto/gen/yard/v1/release.js";
import { renderTable } from "./table.js";
import { formatAge, formatBytes } from "./views.js";

/** HA: "1/1", or "0/1 UNDER-REPLICATED". */
export function copiesCell(c: ReleaseCopyState | undefined): string {
  if (!c) return "-";
  return `${c.copies}/${c.required}${c.copies < c.required ? " UNDER-REPLICATED" : ""}`;
}

function atRestCell(r: Release, nowSeconds: number): string {
  if (r.corrupt) return "CORRUPT";
  return r.verifiedAt > 0 ? `ok ${formatAge(nowSeconds - r.verifiedAt)} ago` : "not checked yet";
}

/**
 * One row per release. Wide shows the whole sha256 and info hash (the table cuts them to 12
 * characters, enough to tell releases apart), the file name, the image and the piece size.
 * In HA one more column: the copies on the standbys.
 */
export function releasesTable(res: ListReleasesResponse, nowSeconds: number, wide = false): string {
  const copies = new Map(res.copies.map((c) => [c.release, c]));
  const ha = copies.size > 0;
  const headers = wide
    ? ["RELEASE", "KIND", "SIZE", "SHA256", "INFO HASH", "PIECE", "FILE", "IMAGE", "AGE", "AT REST"]
    : ["RELEASE", "KIND", "SIZE", "SHA256", "INFO HASH", "AGE", "AT REST"];
  return renderTable(
    [...headers, ...(ha ? ["COPIES"] : [])],
    res.releases.map((r) => {
      const name = `${r.name}@${r.version}`;
      const hashes = wide ? [r.sha256, r.infoHash] : [r.sha256.slice(0, 12), r.infoHash.slice(0, 12)];
      const extra = wide ? [formatBytes(r.pieceLength), r.fileName || "-", r.image || "-"] : [];
      return [
        name,
        r.kind,
        formatBytes(r.size),
        ...hashes,
        ...extra,
        formatAge(nowSeconds - r.createdAt),
        atRestCell(r, nowSeconds),
        ...(ha ? [copiesCell(copies.get(name))] : []),
      ];
    }),
  );
}
