// Value parsers for flags, YARD_* env vars and config-file entries. Pure. A parser gets
// the raw value (a string from a flag or env var; a string, number, list or map from
// YAML) and either returns the typed value or throws ValueError saying what is wrong with
// it; the caller adds which flag, variable or key it came from.
import { MasterListError, parseMasterList } from "../common/master-list.js";
import { normalizeRanges, parseResources, type Resources } from "../common/resources.js";
import type { Attribute, Range } from "../proto/gen/yard/v1/common.js";

/** What is wrong with a value, without saying where it came from. */
export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ValueError";
  }
}

export type Parser<T> = (raw: unknown) => T;

function scalarText(raw: unknown): string {
  if (typeof raw === "string") return raw.trim();
  if (typeof raw === "number" || typeof raw === "boolean") return String(raw);
  throw new ValueError("must be a single value, not a list or a map");
}

export const text: Parser<string> = (raw) => {
  const s = scalarText(raw);
  if (s === "") throw new ValueError("must not be empty");
  return s;
};

/** true/false, yes/no, 1/0 (a flag without a value is true). */
export const bool: Parser<boolean> = (raw) => {
  if (typeof raw === "boolean") return raw;
  const s = String(raw).trim().toLowerCase();
  if (["true", "yes", "1"].includes(s)) return true;
  if (["false", "no", "0"].includes(s)) return false;
  throw new ValueError("is not true or false");
};

export const number: Parser<number> = (raw) => {
  const s = scalarText(raw);
  const n = Number(s);
  if (s === "" || !Number.isFinite(n)) throw new ValueError("not a number");
  return n;
};

export const nonNegative: Parser<number> = (raw) => {
  const n = number(raw);
  if (n < 0) throw new ValueError("must not be negative");
  return n;
};

export const positive: Parser<number> = (raw) => {
  const n = number(raw);
  if (n <= 0) throw new ValueError("must be more than 0");
  return n;
};

export const nonNegativeInt: Parser<number> = (raw) => {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 0) throw new ValueError("must be a whole number, 0 or more");
  return n;
};

export const positiveInt: Parser<number> = (raw) => {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ValueError("must be a whole number, 1 or more");
  return n;
};

/** A TCP port to listen on; 0 picks a free one. */
export const port: Parser<number> = (raw) => {
  const n = number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ValueError("not a port (0-65535)");
  return n;
};

/** "HOST:PORT", e.g. 127.0.0.1:7070 or [::1]:7070. */
export const hostPort: Parser<string> = (raw) => {
  const s = scalarText(raw);
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/.exec(s);
  const p = m ? Number(m[2]) : NaN;
  if (!m || p < 1 || p > 65535) throw new ValueError("not HOST:PORT (e.g. 127.0.0.1:7070)");
  return s;
};

/**
 * The masters to dial: "a:7070,b:7070" (a flag or env var) or a YAML list; whitespace and
 * duplicates are dropped. The error names the entry that is not HOST:PORT.
 */
export const masterList: Parser<string[]> = (raw) => {
  try {
    return parseMasterList(raw, "");
  } catch (err) {
    if (!(err instanceof MasterListError)) throw err;
    const whole = typeof raw === "string" ? raw.trim() : undefined;
    throw new ValueError(
      err.kind !== "entry" || whole === err.value ? err.reason : `entry "${err.value}": ${err.reason}`,
    );
  }
};

/** "31000-32000,33000" (brackets allowed) or a YAML list of such pieces. */
export const portRanges: Parser<Range[]> = (raw) => {
  const pieces = (Array.isArray(raw) ? raw.map(scalarText) : [scalarText(raw)])
    .flatMap((s) => s.replace(/^\[/, "").replace(/\]$/, "").split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  const ranges = pieces.map((piece) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(piece);
    if (!m) throw new ValueError(`"${piece}" is not BEGIN-END (e.g. 31000-32000)`);
    const begin = Number(m[1]);
    const end = m[2] === undefined ? begin : Number(m[2]);
    if (begin < 1 || end > 65535) throw new ValueError(`"${piece}" lies outside 1-65535`);
    if (end < begin) throw new ValueError(`"${piece}" ends before it begins`);
    return { begin, end };
  });
  return normalizeRanges(ranges);
};

const ATTRIBUTE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

function attribute(s: string): Attribute {
  const idx = s.indexOf("=");
  const name = idx < 0 ? "" : s.slice(0, idx).trim();
  const value = idx < 0 ? "" : s.slice(idx + 1).trim();
  if (!ATTRIBUTE_NAME.test(name) || value === "") {
    throw new ValueError(`"${s}" is not NAME=VALUE (e.g. zone=a)`);
  }
  return { name, value };
}

/**
 * Agent attributes: "zone=a" (a flag, repeatable: a list), "zone=a,rack=r1" (env), or a
 * YAML map {zone: a} / list ["zone=a"]. A later entry for the same name wins.
 */
export const attributes: Parser<Attribute[]> = (raw) => {
  let list: Attribute[];
  if (raw !== null && typeof raw === "object" && !Array.isArray(raw)) {
    list = Object.entries(raw as Record<string, unknown>).map(([k, v]) => attribute(`${k}=${scalarText(v)}`));
  } else {
    const items = Array.isArray(raw) ? raw.map(scalarText) : scalarText(raw).split(",");
    list = items
      .map((s) => s.trim())
      .filter(Boolean)
      .map(attribute);
  }
  const byName = new Map<string, Attribute>();
  for (const a of list) byName.set(a.name, a);
  return [...byName.values()];
};

export interface RoleSetting {
  weight?: number;
  quota?: Partial<Resources>;
}

/**
 * Role weights and quotas: a YAML map `{ analytics: { weight: 2, quota: "cpus:8;mem:4096" } }`,
 * or flags/env entries `NAME=WEIGHT[/QUOTA]` such as `analytics=2/cpus:8;mem:4096`.
 */
export const roles: Parser<Record<string, RoleSetting>> = (raw) => {
  const out: Record<string, RoleSetting> = {};
  const add = (name: string, weight: unknown, quota: unknown) => {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new ValueError(`role "${name}" is not a valid role name`);
    const setting: RoleSetting = {};
    if (weight !== undefined && weight !== "") {
      const w = Number(weight);
      if (!Number.isFinite(w) || w <= 0)
        throw new ValueError(`role ${name}: weight "${weight}" is not a positive number`);
      setting.weight = w;
    }
    if (quota !== undefined && quota !== "") {
      try {
        setting.quota = parseResources(scalarText(quota));
      } catch (err) {
        throw new ValueError(`role ${name}: quota: ${(err as Error).message}`);
      }
    }
    out[name] = setting;
  };
  if (raw && typeof raw === "object" && !Array.isArray(raw)) {
    for (const [name, v] of Object.entries(raw as Record<string, any>)) {
      if (v === null || typeof v !== "object")
        throw new ValueError(`role ${name}: expected { weight, quota }`);
      add(name, v.weight, v.quota);
    }
    return out;
  }
  const entries = Array.isArray(raw) ? raw.map(scalarText) : scalarText(raw).split(",");
  for (const entry of entries.map((e) => e.trim()).filter(Boolean)) {
    const m = /^([^=]+)=([^/]*)(?:\/(.*))?$/.exec(entry);
    if (!m) throw new ValueError(`"${entry}" is not NAME=WEIGHT[/QUOTA]`);
    add(m[1]!.trim(), m[2]!.trim(), m[3]?.trim());
  }
  return out;
};

/** "a,b" or a YAML list. */
export const stringList: Parser<string[]> = (raw) => {
  const items = Array.isArray(raw) ? raw.map(scalarText) : scalarText(raw).split(",");
  const out = items.map((s) => s.trim()).filter(Boolean);
  if (out.length === 0) throw new ValueError("must name at least one entry");
  return out;
};

/** etcd client URLs: "http://a:2379,http://b:2379" or a YAML list; http or https, host and port. */
export const etcdUrls: Parser<string[]> = (raw) => {
  const urls = stringList(raw);
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      throw new ValueError(`"${u}" is not a URL (e.g. http://127.0.0.1:2379)`);
    }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || !url.hostname || !url.port) {
      throw new ValueError(`"${u}" is not an etcd client URL: http(s)://HOST:PORT`);
    }
  }
  return urls;
};

/** A key prefix in etcd: starts with "/", no trailing "/", e.g. /yard or /clusters/prod. */
export const etcdPrefix: Parser<string> = (raw) => {
  const s = text(raw);
  if (!/^\/[^\s]*[^/\s]$/.test(s)) throw new ValueError("must start with / and not end with / (e.g. /yard)");
  return s;
};

/** Quotes `raw` for an error message: strings in double quotes, the rest as JSON. */
export function quoteValue(raw: unknown): string {
  if (typeof raw === "string") return JSON.stringify(raw);
  if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === "string") return JSON.stringify(raw[0]);
  try {
    return JSON.stringify(raw) ?? String(raw);
  } catch {
    return String(raw);
  }
}
