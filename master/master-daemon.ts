// Starts a master: SQLite registry, the core, the release store with its tracker and seeder,
// the gRPC services and the HTTP port.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { once } from "node:events";
import { hostname } from "node:os";
import { join } from "node:path";
import { Server, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { bindServer, SERVER_OPTIONS } from "../common/grpc.js";
import { shutdownServer, stopStep } from "../common/shutdown.js";
import {
  chooseTransport,
  httpScheme,
  INSECURE_WARNING,
  serverCredentials,
  type TlsMaterial,
  type TransportChoice,
} from "../common/tls.js";
import { createLogger, type Logger } from "../common/logger.js";
import { AgentServiceService } from "../proto/gen/yard/v1/agent.js";
import { type GetMastersResponse, OperatorServiceService } from "../proto/gen/yard/v1/operator.js";
import { ReleaseServiceService } from "../proto/gen/yard/v1/release.js";
import { SchedulerServiceService } from "../proto/gen/yard/v1/scheduler.js";
import { X509Certificate } from "node:crypto";
import { AccessControl } from "./auth/access.js";
import { Authenticator } from "./auth/authenticate.js";
import { DEFAULT_POLICY, describePrincipal, type Policy } from "./auth/policy.js";
import { loadPolicyFile } from "./auth/policy-file.js";
import { establishClusterIdentity } from "./cluster-identity.js";
import type { EventInput } from "./event-log.js";
import { httpServerOf } from "./http-server.js";
import { DEFAULT_MASTER_CONFIG, type Master, type MasterConfig } from "./master.js";
import { instanceOptionsOf, MasterInstance, type MasterServices } from "./master-instance.js";
import type { RegistryStore } from "./store/registry-store.js";
import { SqliteRegistryStore } from "./store/sqlite-registry-store.js";
import type { ReleaseReplication } from "./releases/copy-quorum.js";
import type { ReleaseManager } from "./releases/release-manager.js";

export interface MasterOptions extends Partial<MasterConfig>, TransportChoice {
  dataDir: string;
  /**
   * An open registry (etcd, promoted to writer); the SQLite one in dataDir when absent. The
   * master closes it when it stops.
   */
  store?: RegistryStore;
  /** Address to listen on; 127.0.0.1 by default. */
  host?: string;
  /** gRPC port, 7070 by default; 0 picks a free one. */
  port?: number;
  /** HTTP port (metrics, health), 7071 by default; 0 picks a free one. */
  httpPort?: number;
  /** The legacy shared cluster token: the principal cluster-token in group admin (docs/security.md). */
  token?: string;
  /** Policy file (YAML or JSON) of principals, tokens and ACLs; the default policy without one. */
  aclFile?: string;
  /**
   * The cluster CA (PEM), to verify client certificates that frameworks forward in
   * ReviewAccess; without it only tokens can be reviewed.
   */
  caCertificate?: Buffer;
  logger?: Logger;
  /**
   * Host name or address that peers use to reach this master's HTTP port, in the announce
   * URL of every torrent; `host` by default (this machine's hostname when `host` is a
   * wildcard address).
   */
  advertiseHost?: string;
  /** BitTorrent peer port of the master's seeder; 0 (a free one) by default. */
  peerPort?: number;
  /** Upload cap of the master's seeder in bytes per second; none by default. */
  seedUploadLimit?: number;
  /**
   * Start a new cluster when the registry is empty although the data dir held one (identity
   * file, release blobs); without it the master refuses to start (master/cluster-identity.ts).
   */
  startAfresh?: boolean;
  /** How often stored releases are checked against their sha256, in ms (default 1 h). */
  releaseVerifyIntervalMs?: number;
  /** HA: the cluster's swarm key, shared by the masters (releases/shared-swarm-key.ts); drawn at start otherwise. */
  swarmKey?: Buffer;
  /** HA: copies of releases on the standbys (releases/copy-quorum.ts); a push waits for them. */
  releaseReplication?: ReleaseReplication;
  /** HA: the other masters' tracker URLs, announced after this master's own in every torrent. */
  otherTrackers?: () => string[];
  /** HA: standby copies a push waits for (default 1; 0 = none); a single master ignores it. */
  releaseCopies?: number;
  /** HA: how long a push waits for them, in ms (default 120 s); a single master ignores it. */
  releaseCopyTimeoutMs?: number;
}

export interface MasterHandle {
  grpcPort: number;
  httpPort: number;
  address: string;
  master: Master;
  releases: ReleaseManager;
  stop(): Promise<void>;
}

/** The master's settings: the defaults overridden by what `opts` sets. */
export function masterConfigOf(opts: Partial<MasterConfig>): MasterConfig {
  const config: MasterConfig = { ...DEFAULT_MASTER_CONFIG };
  for (const key of Object.keys(DEFAULT_MASTER_CONFIG) as (keyof MasterConfig)[]) {
    if (opts[key] !== undefined) (config as any)[key] = opts[key];
  }
  return config;
}

/**
 * Who may call the master: the policy file (read first: a wrong file stops the master at
 * once), the cluster token and the CA. `audit` receives each audited action as a cluster event.
 */
export function accessControlOf(
  opts: MasterOptions,
  tls: TlsMaterial | null,
  log: Logger,
  audit: (e: EventInput) => void,
): AccessControl {
  const policy: Policy = opts.aclFile ? loadPolicyFile(opts.aclFile) : DEFAULT_POLICY;
  // With mTLS the cluster CA is the TLS material's: every caller has a certificate principal.
  const caCertificate = opts.caCertificate ?? tls?.ca;
  const open = !opts.token && !opts.aclFile && !caCertificate;
  if (open) {
    log.warn(
      "no credentials required: every caller is the principal anonymous in group admin; pass --token or --acl-file",
    );
  } else if (opts.token && policy.clusterToken === "admin") {
    log.warn(
      "the shared cluster token is accepted as the principal cluster-token in group admin; give each principal its own certificate or token and set clusterToken: deny (docs/security.md)",
    );
  }
  return new AccessControl(
    new Authenticator({
      policy,
      clusterToken: opts.token,
      ca: caCertificate ? new X509Certificate(caCertificate) : undefined,
      open,
    }),
    policy,
    // The audit log is the cluster's event stream: `yardctl events` shows it.
    (e) => {
      const who = describePrincipal(e.principal);
      audit({
        type: "AUDIT",
        principal: who,
        action: e.action,
        object: e.object,
        result: e.result,
        message: `${who} ${e.action}${e.object ? ` ${e.object}` : ""}: ${e.result}`,
      });
    },
  );
}

/** Adds the four services of the master to `server`, each served by `impl(service)`. */
export function addMasterServices(
  server: Server,
  impl: (service: keyof MasterServices) => UntypedServiceImplementation,
): void {
  server.addService(AgentServiceService, impl("agent"));
  server.addService(SchedulerServiceService, impl("scheduler"));
  server.addService(OperatorServiceService, impl("operator"));
  server.addService(ReleaseServiceService, impl("release"));
}

export async function startMaster(opts: MasterOptions): Promise<MasterHandle> {
  const log = opts.logger ?? createLogger("master");
  const host = opts.host ?? "127.0.0.1";
  const tls = chooseTransport(opts, "master");
  if (!tls) log.warn(INSECURE_WARNING);
  const config = masterConfigOf(opts);
  let instance: MasterInstance | undefined;
  const access = accessControlOf(opts, tls, log, (e) => instance?.master.events.append(e));
  // The data dir holds the cluster identity and the release blobs whichever store keeps the
  // registry; no one else on the host may read it.
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
  const store: RegistryStore = opts.store ?? new SqliteRegistryStore(opts.dataDir);
  try {
    const identity = establishClusterIdentity(opts.dataDir, store, opts.startAfresh === true);
    if (identity.how === "afresh") {
      log.warn("started afresh: a new cluster; agents of the old one will be refused with WRONG_CLUSTER", {
        cluster: identity.clusterId,
      });
    } else if (identity.how !== "kept") {
      log.info("cluster identity", { cluster: identity.clusterId, how: identity.how });
    }
  } catch (err) {
    await store.close();
    throw err;
  }
  // A single master leads alone, on SQLite, from its start; the ports are known once bound.
  const startedAt = Date.now() / 1000;
  const singleMaster = (): GetMastersResponse => {
    const address = `${announceHost(opts.advertiseHost, host)}:${grpcPort}`;
    const self = {
      id: "",
      address,
      httpAddress: `${announceHost(opts.advertiseHost, host)}:${httpPort}`,
      role: "leader",
      term: 1,
      since: startedAt,
    };
    return { masters: [self], leader: address, term: 1, store: store.kind };
  };
  try {
    instance = await MasterInstance.create(
      { store, access, logger: log, injectedLogger: opts.logger },
      {
        ...instanceOptionsOf(opts),
        config,
        host,
        tls,
        masters: singleMaster,
        swarmKey: opts.swarmKey,
        replication: opts.releaseReplication,
      },
    );
  } catch (err) {
    await store.close();
    throw err;
  }
  const { master, releases: releaseStore, tracker } = instance;
  const server = new Server(SERVER_OPTIONS);
  addMasterServices(server, (service) => instance!.services[service]);
  const http = httpServerOf(instance.http, tls);
  let grpcPort: number;
  try {
    grpcPort = await bindServer(server, host, opts.port ?? 7070, serverCredentials(tls));
  } catch (err) {
    await store.close();
    throw new Error(`cannot listen for gRPC on ${host}:${opts.port ?? 7070}: ${(err as Error).message}`);
  }
  try {
    http.listen(opts.httpPort ?? 7071, host);
    await once(http, "listening");
  } catch (err) {
    server.forceShutdown();
    await store.close();
    throw new Error(
      `cannot listen for HTTP(S) on ${host}:${opts.httpPort ?? 7071}: ${(err as Error).message}`,
    );
  }
  const httpPort = (http.address() as { port: number }).port;
  try {
    const own = `${httpScheme(tls)}://${announceHost(opts.advertiseHost, host)}:${httpPort}/announce`;
    await releaseStore.start([own, ...(opts.otherTrackers?.() ?? []).filter((u) => u !== own)]);
  } catch (err) {
    server.forceShutdown();
    http.close();
    await releaseStore.stop();
    await store.close();
    throw new Error(`cannot start the release store: ${(err as Error).message}`);
  }
  master.start();
  writeDiscoveryFile(opts.dataDir, grpcPort, httpPort);
  log.info(`master listening grpc=${host}:${grpcPort} ${httpScheme(tls)}=${host}:${httpPort}`, {
    transport: tls ? "mTLS" : "insecure",
  });
  let stopped = false;
  return {
    grpcPort,
    httpPort,
    address: `${host}:${grpcPort}`,
    master,
    releases: releaseStore,
    async stop() {
      if (stopped) return;
      stopped = true;
      // Ends within the grace period: open streams are ended first, calls get what is left
      // of the grace to finish, then whatever is still open is cut.
      const deadline = Date.now() + config.shutdownGraceMs;
      const left = () => Math.max(0, deadline - Date.now());
      master.stop();
      const clean = await shutdownServer(server, left());
      if (!clean) log.warn("calls still open at the end of the grace period were cut");
      http.closeAllConnections();
      await stopStep(
        log,
        "closing the HTTP port",
        () => new Promise<void>((r) => http.close(() => r())),
        left(),
      );
      await stopStep(log, "stopping the release store", () => releaseStore.stop(), left());
      await stopStep(log, "closing the tracker", () => tracker.close(), left());
      await store.close();
    },
  };
}

/** master.json in the data dir: the ports this master bound, for scripts and tests. */
export function writeDiscoveryFile(dataDir: string, grpcPort: number, httpPort: number): void {
  const discovery = join(dataDir, "master.json");
  writeFileSync(`${discovery}.tmp`, JSON.stringify({ grpcPort, httpPort, pid: process.pid }));
  renameSync(`${discovery}.tmp`, discovery);
}

/** The host part of the tracker URL: the advertised name, else the bound address. */
export function announceHost(advertised: string | undefined, bound: string): string {
  const h = advertised || (bound === "0.0.0.0" || bound === "::" ? hostname() : bound);
  return h.includes(":") && !h.startsWith("[") ? `[${h}]` : h;
}
