// Resource arithmetic over plain data: scalars (cpus, mem MiB, disk MiB) and port ranges.
// Pure: no I/O. Used by the allocator, Accept validation, agents and the framework SDK.
import type { Range, Resources } from "../proto/gen/yard/v1/common.js";

export type { Range, Resources };

/** Scalars are compared with this tolerance so that 0.1 + 0.2 fits in 0.3. */
const EPSILON = 1e-9;

export const SCALAR_NAMES = ["cpus", "mem", "disk"] as const;
export type ScalarName = (typeof SCALAR_NAMES)[number];

export function emptyResources(): Resources {
  return { cpus: 0, mem: 0, disk: 0, ports: [] };
}

export function cloneResources(r: Resources): Resources {
  return {
    cpus: r.cpus,
    mem: r.mem,
    disk: r.disk,
    ports: r.ports.map((p) => ({ begin: p.begin, end: p.end })),
  };
}

/** Sorts and merges overlapping or adjacent ranges. */
export function normalizeRanges(ranges: readonly Range[]): Range[] {
  const sorted = ranges.filter((r) => r.end >= r.begin).map((r) => ({ begin: r.begin, end: r.end }));
  sorted.sort((a, b) => a.begin - b.begin);
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.begin <= last.end + 1) {
      last.end = Math.max(last.end, r.end);
    } else {
      out.push(r);
    }
  }
  return out;
}

export function rangesCount(ranges: readonly Range[]): number {
  let n = 0;
  for (const r of ranges) n += r.end - r.begin + 1;
  return n;
}

/** True when every port of `inner` lies in `outer`. */
export function rangesContain(outer: readonly Range[], inner: readonly Range[]): boolean {
  const o = normalizeRanges(outer);
  for (const r of normalizeRanges(inner)) {
    if (!o.some((x) => x.begin <= r.begin && r.end <= x.end)) return false;
  }
  return true;
}

export function rangesSubtract(from: readonly Range[], take: readonly Range[]): Range[] {
  let result = normalizeRanges(from);
  for (const t of normalizeRanges(take)) {
    const next: Range[] = [];
    for (const r of result) {
      if (t.end < r.begin || t.begin > r.end) {
        next.push(r);
        continue;
      }
      if (r.begin < t.begin) next.push({ begin: r.begin, end: t.begin - 1 });
      if (r.end > t.end) next.push({ begin: t.end + 1, end: r.end });
    }
    result = next;
  }
  return result;
}

export function rangesAdd(a: readonly Range[], b: readonly Range[]): Range[] {
  return normalizeRanges([...a, ...b]);
}

/** Lists single ports of `ranges`, lowest first, at most `limit`. */
export function firstPorts(ranges: readonly Range[], limit: number): number[] {
  const out: number[] = [];
  for (const r of normalizeRanges(ranges)) {
    for (let p = r.begin; p <= r.end && out.length < limit; p++) out.push(p);
    if (out.length >= limit) break;
  }
  return out;
}

export function portsToRanges(ports: readonly number[]): Range[] {
  return normalizeRanges(ports.map((p) => ({ begin: p, end: p })));
}

export function addResources(a: Resources, b: Resources): Resources {
  return {
    cpus: a.cpus + b.cpus,
    mem: a.mem + b.mem,
    disk: a.disk + b.disk,
    ports: rangesAdd(a.ports, b.ports),
  };
}

/** a - b; scalars are clamped at 0 (tiny negative rounding errors vanish). */
export function subtractResources(a: Resources, b: Resources): Resources {
  return {
    cpus: clampZero(a.cpus - b.cpus),
    mem: clampZero(a.mem - b.mem),
    disk: clampZero(a.disk - b.disk),
    ports: rangesSubtract(a.ports, b.ports),
  };
}

function clampZero(x: number): number {
  return x < EPSILON ? 0 : x;
}

/** True when `need` fits in `have`: every scalar and every port. */
export function containsResources(have: Resources, need: Resources): boolean {
  return (
    need.cpus <= have.cpus + EPSILON &&
    need.mem <= have.mem + EPSILON &&
    need.disk <= have.disk + EPSILON &&
    rangesContain(have.ports, need.ports)
  );
}

/** The first scalar of `need` that does not fit in `have`, or undefined. */
export function firstScalarShortfall(have: Resources, need: Resources): ScalarName | undefined {
  return SCALAR_NAMES.find((n) => need[n] > have[n] + EPSILON);
}

export function isEmptyResources(r: Resources): boolean {
  return r.cpus <= EPSILON && r.mem <= EPSILON && r.disk <= EPSILON && r.ports.length === 0;
}

/** Parses "cpus:4;mem:1024;disk:2048;ports:[31000-32000,33000-33010]" (Mesos's notation). */
export function parseResources(text: string): Resources {
  const r = emptyResources();
  for (const part of text
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const idx = part.indexOf(":");
    if (idx < 0) throw new Error(`resource "${part}" is not NAME:VALUE`);
    const name = part.slice(0, idx).trim();
    const value = part.slice(idx + 1).trim();
    if (name === "ports") {
      r.ports = parseRanges(value);
    } else if (name === "cpus" || name === "mem" || name === "disk") {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0)
        throw new Error(`resource ${name}: "${value}" is not a non-negative number`);
      r[name] = n;
    } else {
      throw new Error(`unknown resource "${name}" (known: cpus, mem, disk, ports)`);
    }
  }
  return r;
}

/** Parses "[31000-32000,33000-33010]" or "31000-32000". */
export function parseRanges(text: string): Range[] {
  const inner = text.replace(/^\[/, "").replace(/\]$/, "").trim();
  if (inner === "") return [];
  return normalizeRanges(
    inner.split(",").map((piece) => {
      const m = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(piece);
      if (!m) throw new Error(`range "${piece}" is not BEGIN-END`);
      const begin = Number(m[1]);
      const end = m[2] === undefined ? begin : Number(m[2]);
      if (end < begin || end > 65535) throw new Error(`range "${piece}" is not a valid port range`);
      return { begin, end };
    }),
  );
}

export function formatRanges(ranges: readonly Range[]): string {
  return `[${normalizeRanges(ranges)
    .map((r) => (r.begin === r.end ? `${r.begin}` : `${r.begin}-${r.end}`))
    .join(",")}]`;
}

export function formatResources(r: Resources): string {
  const parts = [`cpus:${round(r.cpus)}`, `mem:${round(r.mem)}`, `disk:${round(r.disk)}`];
  if (r.ports.length > 0) parts.push(`ports:${formatRanges(r.ports)}`);
  return parts.join(";");
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
