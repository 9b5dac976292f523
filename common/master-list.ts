// The masters a client (agent, framework, yardctl) may dial: `a:7070,b:7070,c:7070` from a
// flag, YARD_MASTER or a config file (a string with commas, or a YAML list). Pure. One master
// is the list of one; with several, the client finds the leader itself (leader-follower.ts).

/**
 * A master list that cannot be used; `field` says where it came from (--master, YARD_MASTER,
 * a config key), `value` is the bad entry (`kind` "entry"), or the whole value when it names
 * no master ("empty") or is no list at all ("type").
 */
export class MasterListError extends Error {
  constructor(
    readonly field: string,
    readonly value: string,
    readonly reason: string,
    readonly kind: "entry" | "empty" | "type",
  ) {
    super(`${field} ${JSON.stringify(value)}: ${reason}`);
    this.name = "MasterListError";
  }
}

/** HOST:PORT with a name, an IPv4 address or a bracketed IPv6 address, port 1-65535. */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d+)$/;

/** Whether `s` is one master address, host:port. */
export function isHostPort(s: string): boolean {
  const m = HOST_PORT.exec(s);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535;
}

/** What the options of the daemons and the SDK take: "a:7070,b:7070" or ["a:7070", "b:7070"]. */
export type MasterListInput = string | readonly string[];

/**
 * The addresses of `raw` in order, duplicates removed (the first stays), whitespace around
 * each ignored. Throws MasterListError naming `field` and the bad entry when one is not
 * host:port, or when the list is empty.
 */
export function parseMasterList(raw: unknown, field: string): string[] {
  const items: string[] = [];
  if (typeof raw === "string") items.push(...raw.split(","));
  else if (Array.isArray(raw)) {
    for (const item of raw) {
      if (typeof item !== "string" && typeof item !== "number") {
        throw new MasterListError(field, String(item), "a master list holds HOST:PORT strings", "type");
      }
      items.push(...String(item).split(","));
    }
  } else {
    throw new MasterListError(field, String(raw), "not a list of HOST:PORT (e.g. a:7070,b:7070)", "type");
  }
  const out: string[] = [];
  for (const item of items.map((s) => s.trim())) {
    // "a:7070," and "a:7070,,b:7070" are typos an operator means nothing by.
    if (item === "") continue;
    if (!isHostPort(item)) {
      throw new MasterListError(field, item, "not HOST:PORT (e.g. 127.0.0.1:7070)", "entry");
    }
    if (!out.includes(item)) out.push(item);
  }
  if (out.length === 0) {
    throw new MasterListError(
      field,
      String(raw),
      "names no master (give HOST:PORT, or a:7070,b:7070)",
      "empty",
    );
  }
  return out;
}

/** The list as operators write it, for messages and child processes' flags. */
export function formatMasterList(masters: readonly string[]): string {
  return masters.join(",");
}
