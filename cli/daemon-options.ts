// Options of the daemons that yardctl runs in the foreground, from flags > env > config
// file > defaults (config.ts). One data dir (the yard home) holds each daemon's own
// directory and the shared token file:
//   <home>/token   <home>/master/   <home>/agent/   <home>/batch/
import { join } from "node:path";
import type { AgentOptions } from "../agent/agent-daemon.js";
import type { BatchFrameworkOptions } from "../frameworks/batch/batch-daemon.js";
import type { MasterOptions } from "../master/master-daemon.js";
import { type Layers, resolveSettings } from "./config.js";
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
    killGraceMs: s.killGrace === undefined ? undefined : s.killGrace * 1000,
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
