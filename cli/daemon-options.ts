// Options of the daemons that yardctl runs in the foreground, from flags > env > config
// file > defaults (config.ts). One data dir (the yard home) holds each daemon's own
// directory and the shared token file:
//   <home>/token   <home>/master/   <home>/agent/   <home>/batch/
import { join } from "node:path";
import type { AgentOptions } from "../agent/agent-daemon.js";
import { parseByteRate } from "../agent/fetcher/byte-rate.js";
import type { BatchFrameworkOptions } from "../frameworks/batch/batch-daemon.js";
import type { ServiceFrameworkOptions } from "../frameworks/service/service-daemon.js";
import type { MasterOptions } from "../master/master-daemon.js";
import { type Layers, resolveSetting, resolveSettings, type SettingSpec } from "./config.js";
import * as p from "./parse.js";
import { ValueError } from "./parse.js";
import { resolveHome, resolveToken } from "./context.js";

export function masterDir(home: string): string {
  return join(home, "master");
}
export function agentDir(home: string): string {
  return join(home, "agent");
}
export function batchDir(home: string): string {
  return join(home, "batch");
}

/** Everything but the logger. Seconds in flags, milliseconds in MasterOptions. */
export function masterOptions(layers: Layers, token = resolveToken(layers)): MasterOptions {
  const s = resolveSettings(
    ["host", "port", "httpPort", "allocationIntervalMs", "offerTimeout", "agentTimeout"],
    layers,
  );
  return {
    dataDir: masterDir(resolveHome(layers)),
    host: s.host,
    port: s.port,
    httpPort: s.httpPort,
    token,
    allocationIntervalMs: s.allocationIntervalMs,
    offerTimeoutMs: s.offerTimeout === undefined ? undefined : s.offerTimeout * 1000,
    agentTimeoutMs: s.agentTimeout === undefined ? undefined : s.agentTimeout * 1000,
  };
}

/** Docker settings of the agent (flags and env; see docs/docker.md). */
const DOCKER_SOCKET: SettingSpec<string> = { parse: p.text, env: "YARD_DOCKER_SOCKET" };
const ALLOWED_HOST_PATHS: SettingSpec<string[]> = {
  parse: (raw) => {
    const list = p.stringList(raw);
    for (const item of list) {
      if (!item.startsWith("/")) throw new ValueError(`"${item}" is not an absolute path`);
    }
    return list;
  },
  env: "YARD_ALLOWED_HOST_PATHS",
  flagKey: "allowHostPath",
  flag: "allow-host-path",
};

/** Distribution settings of the agent (flags and env; docs/releases.md). */
const byteRate: p.Parser<number> = (raw) => {
  try {
    return parseByteRate(String(raw));
  } catch (err) {
    throw new ValueError((err as Error).message);
  }
};
const FETCHER_SETTINGS = {
  cacheDir: { parse: p.text } as SettingSpec<string>,
  cacheSize: { parse: p.positive } as SettingSpec<number>,
  uploadRate: { parse: byteRate } as SettingSpec<number>,
  downloadRate: { parse: byteRate } as SettingSpec<number>,
  peerPort: { parse: p.port } as SettingSpec<number>,
  peerHost: { parse: p.text } as SettingSpec<string>,
};

function fetcherOptions(layers: Layers): Partial<AgentOptions> {
  const get = <K extends keyof typeof FETCHER_SETTINGS>(k: K) =>
    resolveSetting(k, FETCHER_SETTINGS[k] as SettingSpec<unknown>, layers).value;
  return {
    cacheDir: get("cacheDir") as string | undefined,
    cacheSizeMiB: get("cacheSize") as number | undefined,
    uploadRate: get("uploadRate") as number | undefined,
    downloadRate: get("downloadRate") as number | undefined,
    peerPort: get("peerPort") as number | undefined,
    peerHost: get("peerHost") as string | undefined,
  };
}

/** `master` overrides the resolved address (yardctl up dials the master it just started). */
export function agentOptions(layers: Layers, token = resolveToken(layers), master?: string): AgentOptions {
  const s = resolveSettings(
    ["master", "hostname", "cpus", "mem", "disk", "ports", "attributes", "executors", "killGrace"],
    layers,
  );
  return {
    master: master ?? s.master!,
    dataDir: agentDir(resolveHome(layers)),
    token,
    hostname: s.hostname,
    cpus: s.cpus,
    mem: s.mem,
    disk: s.disk,
    ports: s.ports,
    attributes: s.attributes,
    executors: s.executors,
    dockerSocket: resolveSetting("dockerSocket", DOCKER_SOCKET, layers).value,
    allowedHostPaths: resolveSetting("allowedHostPaths", ALLOWED_HOST_PATHS, layers).value,
    killGraceMs: s.killGrace === undefined ? undefined : s.killGrace * 1000,
    ...fetcherOptions(layers),
  };
}

export function batchOptions(
  layers: Layers,
  token = resolveToken(layers),
  master?: string,
): BatchFrameworkOptions {
  const s = resolveSettings(["master", "batchHost", "batchPort"], layers);
  return {
    master: master ?? s.master!,
    token,
    dataDir: batchDir(resolveHome(layers)),
    host: s.batchHost,
    port: s.batchPort,
    name: "batch",
  };
}

export function serviceDir(home: string): string {
  return join(home, "service");
}

/** Settings of the service framework (flags, env YARD_SERVICE_HOST/PORT, YARD_CHECK_HOST). */
const SERVICE_HOST: SettingSpec<string> = { parse: p.text, env: "YARD_SERVICE_HOST" };
const SERVICE_PORT: SettingSpec<number> = { parse: p.port, env: "YARD_SERVICE_PORT" };
const CHECK_HOST: SettingSpec<string> = { parse: p.text, env: "YARD_CHECK_HOST" };

export function serviceOptions(
  layers: Layers,
  token = resolveToken(layers),
  master?: string,
): ServiceFrameworkOptions {
  const s = resolveSettings(["master"], layers);
  return {
    master: master ?? s.master!,
    token,
    dataDir: serviceDir(resolveHome(layers)),
    host: resolveSetting("serviceHost", SERVICE_HOST, layers).value ?? "127.0.0.1",
    port: resolveSetting("servicePort", SERVICE_PORT, layers).value ?? 0,
    checkHost: resolveSetting("checkHost", CHECK_HOST, layers).value,
    name: "service",
  };
}
