// Where each setting of yardctl comes from. Precedence, highest first:
//   flag  >  YARD_* env var  >  config file (YAML)  >  default.
// Pure: the caller reads the env and the file and hands them in, so that tests can state
// every layer inline. A value is validated where it is found, and the error names that
// place: the flag (--cpus), the variable (YARD_CPUS) or the key and file.
import { parse as parseYaml } from "yaml";
import { parseByteRate } from "../agent/fetcher/byte-rate.js";
import type { Attribute, Range } from "../proto/gen/yard/v1/common.js";
import { UsageError } from "./errors.js";
import * as p from "./parse.js";
import { type Parser, quoteValue, ValueError } from "./parse.js";

export interface SettingSpec<T> {
  parse: Parser<T>;
  /** Env var; "YARD_" + the key in SCREAMING_SNAKE_CASE unless given; null for none. */
  env?: string | null;
  /** The commander option key when it differs from the setting's (repeatable --attribute). */
  flagKey?: string;
  /** Long flag name when it differs from the kebab-case key. */
  flag?: string;
  default?: T;
}

/** Bytes per second as operators write them: "10M", "512K", a plain number of bytes. */
function byteRate(raw: unknown): number {
  const textValue = p.text(raw);
  try {
    return parseByteRate(textValue);
  } catch (err) {
    throw new ValueError((err as Error).message);
  }
}

/** A list of absolute paths (a YAML list, or "a,b" from a flag or env var). */
function absolutePaths(raw: unknown): string[] {
  const list = p.stringList(raw);
  for (const item of list) {
    if (!item.startsWith("/")) throw new ValueError(`"${item}" is not an absolute path`);
  }
  return list;
}

/** Every setting a command may take from env or the config file, by camelCase key. */
export const SETTINGS = {
  // One master, or several (docs/ha.md): clients find the leader among them.
  master: { parse: p.masterList, default: ["127.0.0.1:7070"] } as SettingSpec<string[]>,
  token: { parse: p.text } as SettingSpec<string>,
  dataDir: { parse: p.text, env: "YARD_HOME" } as SettingSpec<string>,
  host: { parse: p.text, default: "127.0.0.1" } as SettingSpec<string>,
  port: { parse: p.port, default: 7070 } as SettingSpec<number>,
  httpPort: { parse: p.port, default: 7071 } as SettingSpec<number>,
  allocationIntervalMs: { parse: p.positive } as SettingSpec<number>,
  offerTimeout: { parse: p.positive } as SettingSpec<number>,
  agentTimeout: { parse: p.positive } as SettingSpec<number>,
  agentGoneTimeout: { parse: p.positive } as SettingSpec<number>,
  eventsKept: { parse: p.positiveInt } as SettingSpec<number>,
  roles: { parse: p.roles, flagKey: "role", flag: "role" } as SettingSpec<Record<string, p.RoleSetting>>,
  hostname: { parse: p.text } as SettingSpec<string>,
  cpus: { parse: p.nonNegative } as SettingSpec<number>,
  mem: { parse: p.nonNegative } as SettingSpec<number>,
  disk: { parse: p.nonNegative } as SettingSpec<number>,
  ports: { parse: p.portRanges } as SettingSpec<Range[]>,
  attributes: { parse: p.attributes, flagKey: "attribute", flag: "attribute" } as SettingSpec<Attribute[]>,
  executors: { parse: p.stringList } as SettingSpec<string[]>,
  killGrace: { parse: p.nonNegative } as SettingSpec<number>,
  batchHost: { parse: p.text, default: "127.0.0.1" } as SettingSpec<string>,
  batchPort: { parse: p.port, default: 0 } as SettingSpec<number>,
  // Service framework (docs/service-framework.md): its DeployService address.
  serviceHost: { parse: p.text, default: "127.0.0.1" } as SettingSpec<string>,
  servicePort: { parse: p.port, default: 0 } as SettingSpec<number>,
  // Agent: Docker executor (docs/docker.md).
  dockerSocket: { parse: p.text } as SettingSpec<string>,
  allowedHostPaths: {
    parse: absolutePaths,
    flagKey: "allowHostPath",
    flag: "allow-host-path",
  } as SettingSpec<string[]>,
  // Agent: who process tasks run as (docs/security.md).
  taskUser: { parse: p.text } as SettingSpec<string>,
  // Agent: release cache and BitTorrent fetcher (docs/releases.md).
  cacheDir: { parse: p.text } as SettingSpec<string>,
  cacheSize: { parse: p.positive } as SettingSpec<number>,
  diskReserve: { parse: p.nonNegative } as SettingSpec<number>,
  uploadRate: { parse: byteRate } as SettingSpec<number>,
  downloadRate: { parse: byteRate } as SettingSpec<number>,
  peerPort: { parse: p.port } as SettingSpec<number>,
  peerHost: { parse: p.text } as SettingSpec<string>,
  // Master: release seeder and tracker. Its peer port is `seedPort`, not `peerPort`, so that
  // one config file (or `yardctl up`) can set both daemons' ports on one host.
  advertiseHost: { parse: p.text } as SettingSpec<string>,
  // Master: the policy file of principals, tokens and ACLs (docs/security.md).
  aclFile: { parse: p.text } as SettingSpec<string>,
  seedPort: { parse: p.port } as SettingSpec<number>,
  // Master in HA mode (docs/ha.md): etcd's client URLs, the cluster's prefix there, the
  // election lease's TTL, and this master's id (by default kept in its data dir).
  etcd: { parse: p.etcdUrls } as SettingSpec<string[]>,
  etcdPrefix: { parse: p.etcdPrefix, default: "/yard" } as SettingSpec<string>,
  // No default here: masters lead on a 3 s lease, framework instances on a 5 s one.
  etcdLeaseTtl: { parse: p.positiveInt } as SettingSpec<number>,
  // etcd's --max-txn-ops of the cluster's etcd: the largest unit the registry writes atomically.
  etcdMaxTxnOps: { parse: p.positiveInt } as SettingSpec<number>,
  masterId: { parse: p.text } as SettingSpec<string>,
  seedUploadLimit: { parse: byteRate } as SettingSpec<number>,
  // Every daemon: how long stop() waits before it cuts what is still open (docs/architecture.md).
  shutdownGrace: { parse: p.positive } as SettingSpec<number>,
  // Agent: limits on the tools that install a release (docs/releases.md, docs/docker.md).
  tarTimeout: { parse: p.positive } as SettingSpec<number>,
  dockerLoadTimeout: { parse: p.positive } as SettingSpec<number>,
  // Batch framework: how long ended jobs are remembered (docs/yardctl.md).
  finishedJobsKept: { parse: p.nonNegative } as SettingSpec<number>,
  finishedJobsMaxAge: { parse: p.positive } as SettingSpec<number>,
  // Master: how often stored releases are verified at rest, in seconds (docs/releases.md).
  releaseVerifyInterval: { parse: p.positive } as SettingSpec<number>,
  // Master in HA mode: standby copies a push waits for, and how long, in seconds (docs/ha.md).
  releaseCopies: { parse: p.nonNegativeInt } as SettingSpec<number>,
  releaseCopyTimeout: { parse: p.positive } as SettingSpec<number>,
  // Every daemon and client: transport security (docs/security.md). The TLS directory holds
  // ca.crt and <name>.crt/.key; explicit files win over it.
  tlsDir: { parse: p.text } as SettingSpec<string>,
  tlsName: { parse: p.text } as SettingSpec<string>,
  tlsCa: { parse: p.text } as SettingSpec<string>,
  tlsCert: { parse: p.text } as SettingSpec<string>,
  tlsKey: { parse: p.text } as SettingSpec<string>,
  insecure: { parse: p.bool } as SettingSpec<boolean>,
  // Agents and frameworks: the HTTP port of Prometheus /metrics and /healthz (docs/metrics.md).
  metricsListen: { parse: p.hostPort } as SettingSpec<string>,
  // Master: whether latency histograms and event counters are recorded (docs/metrics.md).
  metricsRecording: { parse: p.bool } as SettingSpec<boolean>,
} satisfies Record<string, SettingSpec<unknown>>;

export type SettingKey = keyof typeof SETTINGS;

/** The layers below flags, as plain data. */
export interface Layers {
  /** commander's opts(): camelCase keys; undefined = flag not given. */
  flags: Record<string, unknown>;
  env: Record<string, string | undefined>;
  /** The config file after parseConfigText (camelCase keys). */
  file: Record<string, unknown>;
  /** Named in messages about values from the file. */
  fileName?: string;
  /** Defaults computed by the caller (e.g. the data dir under the home directory). */
  defaults?: Partial<Record<string, unknown>>;
}

export type Source = "flag" | "env" | "config" | "default";

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

export function envName(key: string, spec: SettingSpec<unknown>): string | null {
  if (spec.env !== undefined) return spec.env;
  return `YARD_${kebab(key).replace(/-/g, "_").toUpperCase()}`;
}

/** Resolves one setting: its value (undefined when no layer has one) and where it came from. */
export function resolveSetting<T>(
  key: string,
  spec: SettingSpec<T>,
  layers: Layers,
): { value: T | undefined; source: Source | undefined } {
  const flagValue = layers.flags[spec.flagKey ?? key];
  if (flagValue !== undefined && !(Array.isArray(flagValue) && flagValue.length === 0)) {
    return { value: parseAt(spec.parse, flagValue, `--${spec.flag ?? kebab(key)}`), source: "flag" };
  }
  const env = envName(key, spec as SettingSpec<unknown>);
  const envValue = env ? layers.env[env] : undefined;
  if (env && envValue !== undefined && envValue !== "") {
    return { value: parseAt(spec.parse, envValue, env), source: "env" };
  }
  const fileValue = layers.file[key];
  if (fileValue !== undefined && fileValue !== null) {
    const where = `${kebab(key)} in ${layers.fileName ?? "the config file"}`;
    return { value: parseAt(spec.parse, fileValue, where), source: "config" };
  }
  const dflt = layers.defaults?.[key] ?? spec.default;
  if (dflt !== undefined) return { value: dflt as T, source: "default" };
  return { value: undefined, source: undefined };
}

type ValueOf<K extends SettingKey> = (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;

/** Resolves the named settings; missing ones are undefined. */
export function resolveSettings<K extends SettingKey>(
  keys: readonly K[],
  layers: Layers,
): { [P in K]: ValueOf<P> | undefined } {
  const out = {} as { [P in K]: ValueOf<P> | undefined };
  for (const key of keys) {
    out[key] = resolveSetting(key, SETTINGS[key] as SettingSpec<ValueOf<K>>, layers).value;
  }
  return out;
}

function parseAt<T>(parse: Parser<T>, raw: unknown, where: string): T {
  try {
    return parse(raw);
  } catch (err) {
    if (err instanceof ValueError) throw new UsageError(`${where} ${quoteValue(raw)}: ${err.message}`);
    throw err;
  }
}

/** Parses a flag value on its own (flags with no env or file layer, like run --cpus). */
export function parseFlag<T>(parse: Parser<T>, raw: unknown, flag: string): T {
  return parseAt(parse, raw, flag);
}

/**
 * Parses a YAML config file: a map whose keys are long flag names (kebab-case, or
 * camelCase). Unknown keys are errors, so that a typo is not silently ignored.
 */
export function parseConfigText(textValue: string, fileName: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(textValue);
  } catch (err) {
    throw new UsageError(`config file ${fileName} is not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc)) {
    throw new UsageError(`config file ${fileName} must be a map of settings (e.g. "master: 127.0.0.1:7070")`);
  }
  const out: Record<string, unknown> = {};
  for (const [rawKey, value] of Object.entries(doc as Record<string, unknown>)) {
    const key = rawKey.replace(/[-_]([a-z])/g, (_, c: string) => c.toUpperCase());
    const alias = key === "attribute" ? "attributes" : key;
    if (!(alias in SETTINGS)) {
      const known = Object.keys(SETTINGS).map(kebab).join(", ");
      throw new UsageError(`config file ${fileName}: unknown key "${rawKey}" (known: ${known})`);
    }
    out[alias] = value;
  }
  return out;
}
