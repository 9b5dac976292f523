// Options of the daemons that yardctl runs in the foreground, from flags > env > config
// file > defaults (config.ts). One data dir (the yard home) holds each daemon's own
// directory and the shared token file:
//   <home>/token   <home>/master/   <home>/agent/   <home>/batch/
import { join } from "node:path";
import type { AgentOptions } from "../agent/agent-daemon.js";
import type { BatchFrameworkOptions } from "../frameworks/batch/batch-daemon.js";
import type { ServiceFrameworkOptions } from "../frameworks/service/service-daemon.js";
import type { HaOptions } from "../master/ha/ha-master-daemon.js";
import type { MasterOptions } from "../master/master-daemon.js";
import { type Layers, resolveSetting, resolveSettings, type SettingSpec } from "./config.js";
import * as p from "./parse.js";
import { resolveHome, resolveToken } from "./context.js";
import { resolveTransport } from "./transport.js";

/** Seconds from a setting to milliseconds in the daemons' options. */
function seconds(s: number | undefined): number | undefined {
  return s === undefined ? undefined : s * 1000;
}

export function masterDir(home: string): string {
  return join(home, "master");
}
export function agentDir(home: string): string {
  return join(home, "agent");
}
export function batchDir(home: string): string {
  return join(home, "batch");
}

/**
 * A flag only, never an env var or a config key: a setting left behind would silently turn
 * off the guard against a lost registry (master/cluster-identity.ts).
 */
export const START_AFRESH_FLAG = "--start-afresh";
export const START_AFRESH_HELP =
  "start a new, empty cluster when the master's registry is empty although its data dir held one (identity file, release blobs); agents of the old cluster are refused and keep their tasks";

/**
 * A flag only, never an env var or a config key: a setting left behind would silently let
 * frameworks run tasks as root.
 */
export const ALLOW_ROOT_TASKS_FLAG = "--allow-root-tasks";
export const ALLOW_ROOT_TASKS_HELP =
  "let a framework whose user is root (uid 0) run process tasks as root; off by default, such tasks fail";

/** Everything but the logger. Seconds in flags, milliseconds in MasterOptions. */
export function masterOptions(layers: Layers, token = resolveToken(layers)): MasterOptions {
  const s = resolveSettings(
    [
      "host",
      "port",
      "httpPort",
      "allocationIntervalMs",
      "offerTimeout",
      "agentTimeout",
      "agentGoneTimeout",
      "eventsKept",
      "roles",
      "advertiseHost",
      "seedPort",
      "seedUploadLimit",
      "shutdownGrace",
      "releaseVerifyInterval",
      "releaseCopies",
      "releaseCopyTimeout",
      "aclFile",
      "metricsRecording",
    ],
    layers,
  );
  return {
    ...resolveTransport(layers, "master", "master"),
    dataDir: masterDir(resolveHome(layers)),
    aclFile: s.aclFile,
    host: s.host,
    port: s.port,
    httpPort: s.httpPort,
    token,
    allocationIntervalMs: s.allocationIntervalMs,
    offerTimeoutMs: s.offerTimeout === undefined ? undefined : s.offerTimeout * 1000,
    agentTimeoutMs: s.agentTimeout === undefined ? undefined : s.agentTimeout * 1000,
    agentGoneTimeoutMs: s.agentGoneTimeout === undefined ? undefined : s.agentGoneTimeout * 1000,
    eventsKept: s.eventsKept,
    roles: s.roles,
    advertiseHost: s.advertiseHost,
    peerPort: s.seedPort,
    seedUploadLimit: s.seedUploadLimit,
    shutdownGraceMs: seconds(s.shutdownGrace),
    releaseVerifyIntervalMs: seconds(s.releaseVerifyInterval),
    releaseCopies: s.releaseCopies,
    releaseCopyTimeoutMs: seconds(s.releaseCopyTimeout),
    startAfresh: layers.flags.startAfresh === true,
    metricsRecording: s.metricsRecording,
  };
}

/** HA mode of the master (docs/ha.md): undefined without --etcd (a single master on SQLite). */
export function masterHaOptions(layers: Layers): { etcd: HaOptions; masterId?: string } | undefined {
  const s = resolveSettings(["etcd", "etcdPrefix", "etcdLeaseTtl", "etcdMaxTxnOps", "masterId"], layers);
  if (!s.etcd) return undefined;
  return {
    etcd: {
      endpoints: s.etcd,
      prefix: s.etcdPrefix!,
      leaseTtlSeconds: s.etcdLeaseTtl, // unset: the master's default (HA_DEFAULTS)
      maxTxnOps: s.etcdMaxTxnOps,
    },
    masterId: s.masterId,
  };
}

/** `master` overrides the resolved address (yardctl up dials the master it just started). */
export function agentOptions(layers: Layers, token = resolveToken(layers), master?: string): AgentOptions {
  const s = resolveSettings(
    [
      "master",
      "hostname",
      "cpus",
      "mem",
      "disk",
      "ports",
      "attributes",
      "executors",
      "killGrace",
      "taskUser",
      "dockerSocket",
      "allowedHostPaths",
      "cacheDir",
      "cacheSize",
      "diskReserve",
      "uploadRate",
      "downloadRate",
      "peerPort",
      "peerHost",
      "shutdownGrace",
      "tarTimeout",
      "dockerLoadTimeout",
      "metricsListen",
    ],
    layers,
  );
  return {
    ...resolveTransport(layers, "agent", "agent"),
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
    dockerSocket: s.dockerSocket,
    allowedHostPaths: s.allowedHostPaths,
    taskUser: s.taskUser,
    allowRootTasks: layers.flags.allowRootTasks === true,
    killGraceMs: s.killGrace === undefined ? undefined : s.killGrace * 1000,
    cacheDir: s.cacheDir,
    cacheSizeMiB: s.cacheSize,
    diskReserveMiB: s.diskReserve,
    uploadRate: s.uploadRate,
    downloadRate: s.downloadRate,
    peerPort: s.peerPort,
    peerHost: s.peerHost,
    shutdownGraceMs: seconds(s.shutdownGrace),
    tarTimeoutMs: seconds(s.tarTimeout),
    dockerLoadTimeoutMs: seconds(s.dockerLoadTimeout),
    metricsListen: s.metricsListen,
  };
}

/** The lease of a framework's active instance (docs/ha.md, "Frameworks that fail over"). */
const FRAMEWORK_LEASE_TTL_S = 5;

/**
 * A framework run as several instances on etcd (docs/ha.md, "Frameworks that fail over"):
 * undefined without --etcd (one instance, state in SQLite under the data dir).
 */
export function frameworkEtcdOptions(
  layers: Layers,
): { endpoints: string[]; prefix: string; leaseTtlSeconds: number } | undefined {
  const s = resolveSettings(["etcd", "etcdPrefix", "etcdLeaseTtl"], layers);
  if (!s.etcd) return undefined;
  return {
    endpoints: s.etcd,
    prefix: s.etcdPrefix!,
    leaseTtlSeconds: s.etcdLeaseTtl ?? FRAMEWORK_LEASE_TTL_S,
  };
}

export function batchOptions(
  layers: Layers,
  token = resolveToken(layers),
  master?: string,
): BatchFrameworkOptions {
  const s = resolveSettings(
    [
      "master",
      "batchHost",
      "batchPort",
      "shutdownGrace",
      "finishedJobsKept",
      "finishedJobsMaxAge",
      "metricsListen",
    ],
    layers,
  );
  return {
    ...resolveTransport(layers, "batch", "framework"),
    master: master ?? s.master!,
    token,
    dataDir: batchDir(resolveHome(layers)),
    host: s.batchHost,
    port: s.batchPort,
    name: "batch",
    shutdownGraceMs: seconds(s.shutdownGrace),
    etcd: frameworkEtcdOptions(layers),
    metricsListen: s.metricsListen,
    retention: {
      ...(s.finishedJobsKept === undefined ? {} : { maxEnded: Math.floor(s.finishedJobsKept) }),
      ...(s.finishedJobsMaxAge === undefined ? {} : { maxAgeSeconds: s.finishedJobsMaxAge }),
    },
  };
}

export function serviceDir(home: string): string {
  return join(home, "service");
}

/** Settings of the service framework (flags, env YARD_SERVICE_HOST/PORT). */
const SERVICE_HOST: SettingSpec<string> = { parse: p.text, env: "YARD_SERVICE_HOST" };
const SERVICE_PORT: SettingSpec<number> = { parse: p.port, env: "YARD_SERVICE_PORT" };

export function serviceOptions(
  layers: Layers,
  token = resolveToken(layers),
  master?: string,
): ServiceFrameworkOptions {
  const s = resolveSettings(["master", "shutdownGrace", "metricsListen"], layers);
  return {
    ...resolveTransport(layers, "service", "framework"),
    master: master ?? s.master!,
    token,
    dataDir: serviceDir(resolveHome(layers)),
    host: resolveSetting("serviceHost", SERVICE_HOST, layers).value ?? "127.0.0.1",
    port: resolveSetting("servicePort", SERVICE_PORT, layers).value ?? 0,
    name: "service",
    shutdownGraceMs: seconds(s.shutdownGrace),
    etcd: frameworkEtcdOptions(layers),
    metricsListen: s.metricsListen,
  };
}
