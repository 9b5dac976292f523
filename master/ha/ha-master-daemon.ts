// A master in HA mode (`yardctl master --etcd URL,...`). Its ports are bound for the life of
// the process; what answers behind them changes with the election:
//
//   standby  every gRPC call but GetMasters gets the not-the-leader status naming the leader;
//            the HTTP port redirects to the leader's; the registry is a warm follower of etcd.
//   leader   the registry is promoted (fenced on the leadership key), a Master instance is
//            built from it, and the gate routes every call to that instance.
//
// Losing the leadership (lease not renewed in time, the fence refused, etcd gone past the
// TTL): the gate closes first, synchronously (a call that arrives next is refused); then the
// instance is detached (its streams end, their late messages are dropped), its release store
// stopped, its registry dropped unwritten, and the master stands again as a standby, in the
// same process. docs/ha.md says what each failure looks like from outside.
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Server, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import { Campaign, type Leadership } from "../../common/etcd/election.js";
import { bindServer, SERVER_OPTIONS } from "../../common/grpc.js";
import { notLeaderError } from "../../common/leader-redirect.js";
import { createLogger } from "../../common/logger.js";
import { shutdownServer, stopStep } from "../../common/shutdown.js";
import { chooseTransport, httpScheme, INSECURE_WARNING, serverCredentials } from "../../common/tls.js";
import { AgentServiceService } from "../../proto/gen/yard/v1/agent.js";
import { OperatorServiceService } from "../../proto/gen/yard/v1/operator.js";
import { ReleaseServiceService } from "../../proto/gen/yard/v1/release.js";
import { SchedulerServiceService } from "../../proto/gen/yard/v1/scheduler.js";
import { establishClusterIdentity } from "../cluster-identity.js";
import { unaryHandler } from "../grpc/call-guard.js";
import { httpServerOf } from "../http-server.js";
import {
  accessControlOf,
  announceHost,
  type MasterOptions,
  masterConfigOf,
  writeDiscoveryFile,
} from "../master-daemon.js";
import { instanceOptionsOf, MasterInstance, type MasterServices } from "../master-instance.js";
import { CopyQuorum } from "../releases/copy-quorum.js";
import { ReleaseCopies } from "../releases/release-copies.js";
import { sharedSwarmKey } from "../releases/shared-swarm-key.js";
import { startReleaseReplica } from "../releases/start-release-replica.js";
import { standbyHttp } from "./http-gate.js";
import { MasterRegistration } from "./master-registration.js";
import { LeaderProcessWatch } from "./leader-process-watch.js";
import { type CandidateValue, MastersView } from "./masters-view.js";
import { openWarmRegistry, type WarmRegistry } from "./registry-wiring.js";
import { type CallPriority, HeldCalls } from "./held-calls.js";
import { gatedService } from "./service-gate.js";

/** Defaults of the HA settings (docs/ha.md). */
export const HA_DEFAULTS = { prefix: "/yard", leaseTtlSeconds: 3 } as const;

export interface HaOptions {
  /** etcd client URLs, e.g. ["http://10.0.0.1:2379", ...]. */
  endpoints: string[];
  /** Key prefix of this cluster in etcd; /yard by default. */
  prefix?: string;
  /** TTL of the election lease in seconds; 3 by default. */
  leaseTtlSeconds?: number;
  /** etcd's --max-txn-ops: a unit of more operations is written over several txns; 128 by default. */
  maxTxnOps?: number;
}

export interface HaMasterOptions extends MasterOptions {
  etcd: HaOptions;
  /** This master's id; by default kept in <data dir>/master-id (made at the first start). */
  masterId?: string;
}

export interface HaMasterHandle {
  id: string;
  grpcPort: number;
  httpPort: number;
  /** host:port as the others reach it (what a standby's redirect names). */
  address: string;
  /** Whether this master leads now. */
  leading(): boolean;
  /** The instance while this master leads. */
  instance(): MasterInstance | undefined;
  /** Resolves with the leadership the next time this master leads (at once if it leads). */
  led(): Promise<Leadership>;
  stop(): Promise<void>;
}

/** The id file in the master's data dir. */
export const MASTER_ID_FILE = "master-id";

/** This master's id: the one in `dataDir`, or a new one written there. */
export function masterIdOf(dataDir: string): string {
  const file = join(dataDir, MASTER_ID_FILE);
  if (existsSync(file)) {
    const id = readFileSync(file, "utf8").trim();
    if (id) return id;
  }
  const id = `master-${randomUUID().slice(0, 8)}`;
  writeFileSync(`${file}.tmp`, `${id}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
  return id;
}

interface Term {
  leadership: Leadership;
  registry: WarmRegistry;
  instance: MasterInstance;
  /** Set when the registry's fence was refused (before the lease says so). */
  fenceLost: boolean;
}

/** Resolves once everything `master` wrote so far is stored, or after `capMs`. */
function committed(master: { afterCommit(fn: () => void): void }, capMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, capMs);
    master.afterCommit(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function startHaMaster(opts: HaMasterOptions): Promise<HaMasterHandle> {
  const log = opts.logger ?? createLogger("master");
  const host = opts.host ?? "127.0.0.1";
  const tls = chooseTransport(opts, "master");
  if (!tls) log.warn(INSECURE_WARNING);
  const config = masterConfigOf(opts);
  const prefix = (opts.etcd.prefix ?? HA_DEFAULTS.prefix).replace(/\/+$/, "");
  const ttl = opts.etcd.leaseTtlSeconds ?? HA_DEFAULTS.leaseTtlSeconds;
  // A framework on a frozen or cut-off leader notices only by silence (the SDK's watchdog:
  // three heartbeats). Sent every half lease, that silence ends soon after a new leader is
  // elected, instead of 15 s after the freeze.
  config.frameworkHeartbeatMs = Math.min(config.frameworkHeartbeatMs, (ttl * 1000) / 2);
  const id = opts.masterId ?? masterIdOf(opts.dataDir);

  let term: Term | undefined;
  /** The gate: the leading instance while its leadership holds, else nothing. */
  const leading = (): Term | undefined =>
    term && !term.fenceLost && term.leadership.held() ? term : undefined;
  const access = accessControlOf(opts, tls, log, (e) => {
    // Audit events go to the registry of the leader; a standby's (GetMasters) are only logged.
    const t = leading();
    if (t) t.instance.master.events.append(e);
    else log.debug("audit", { action: e.action, result: e.result });
  });

  const client = new Etcd3({ hosts: opts.etcd.endpoints });
  // The election's keepalives on a connection of their own: on the registry's, they queue
  // behind megabytes of txns after a takeover (HTTP/2 flow control), the answer comes late,
  // and the new leader pauses for nothing.
  const electionClient = new Etcd3({ hosts: opts.etcd.endpoints });
  let view: MastersView | undefined;
  /**
   * The leader as this master's view shows it, never itself: a deposed master whose view has
   * not caught up yet (the deletion of its own key is still unread) names no leader rather than
   * send its callers back to itself; they try the next master.
   */
  const leaderOf = () => {
    const l = view?.leader();
    return l && l.id !== id ? l : undefined;
  };
  const refusal = () => notLeaderError(leaderOf()?.address);
  /** Calls that arrive while this master takes over wait for its gate (held-calls.ts). */
  const held = new HeldCalls({ maxWaitMs: 2 * ttl * 1000 });
  let takingOver = false;
  /** Set by stop(). */
  let stopping = false;
  /** The frameworks' calls first: the cluster serves once they are subscribed again. */
  const ORDER: Record<keyof MasterServices, CallPriority> = {
    scheduler: 0,
    operator: 1,
    release: 2,
    agent: 3,
  };
  const opening = (service: keyof MasterServices) => () => held.wait(ORDER[service]);

  // ---- ports: bound once, gated
  const server = new Server(SERVER_OPTIONS);
  const route = (service: keyof MasterServices) => () => leading()?.instance.services[service];
  const getMasters = unaryHandler(access, "view", () => view!.snapshot());
  server.addService(
    AgentServiceService,
    gatedService(AgentServiceService, route("agent"), refusal, { opening: opening("agent") }),
  );
  server.addService(
    SchedulerServiceService,
    gatedService(SchedulerServiceService, route("scheduler"), refusal, { opening: opening("scheduler") }),
  );
  server.addService(
    OperatorServiceService,
    gatedService(OperatorServiceService, route("operator"), refusal, {
      own: { getMasters: getMasters as UntypedServiceImplementation[string] },
      opening: opening("operator"),
    }),
  );
  server.addService(
    ReleaseServiceService,
    gatedService(ReleaseServiceService, route("release"), refusal, { opening: opening("release") }),
  );
  const http = httpServerOf(
    standbyHttp({
      route: () => leading()?.instance.http,
      leaderHttp: () => leaderOf()?.httpAddress,
      scheme: httpScheme(tls),
    }),
    tls,
  );
  let grpcPort: number;
  try {
    grpcPort = await bindServer(server, host, opts.port ?? 7070, serverCredentials(tls));
  } catch (err) {
    client.close();
    electionClient.close();
    throw new Error(`cannot listen for gRPC on ${host}:${opts.port ?? 7070}: ${(err as Error).message}`);
  }
  try {
    http.listen(opts.httpPort ?? 7071, host);
    await once(http, "listening");
  } catch (err) {
    server.forceShutdown();
    client.close();
    electionClient.close();
    throw new Error(
      `cannot listen for HTTP(S) on ${host}:${opts.httpPort ?? 7071}: ${(err as Error).message}`,
    );
  }
  const httpPort = (http.address() as { port: number }).port;
  const advertised = announceHost(opts.advertiseHost, host);
  const self: CandidateValue = {
    id,
    address: `${advertised}:${grpcPort}`,
    httpAddress: `${advertised}:${httpPort}`,
  };
  const announceUrl = `${httpScheme(tls)}://${self.httpAddress}/announce`;

  const registration = new MasterRegistration(electionClient, `${prefix}/masters/${id}`, ttl, log, {
    ...self,
    role: "standby",
    since: Date.now() / 1000,
  });
  const campaign = new Campaign({
    client: electionClient,
    prefix: `${prefix}/election`,
    value: JSON.stringify(self),
    ttlSeconds: ttl,
    logger: log,
  });
  /** A standby revokes the lease of a leader whose process is gone (leader-process-watch.ts). */
  const leaderWatch = new LeaderProcessWatch({
    leader: () => (stopping || leading() ? undefined : leaderOf()),
    revoke: async (lease) => {
      await electionClient.leaseClient.leaseRevoke({ ID: lease });
    },
    logger: log,
  });
  let swarmKey: Buffer;
  let copies: ReleaseCopies | undefined;
  try {
    view = await MastersView.open(client, prefix, log);
    // Hold calls from the moment this master is first in line, not only once it has claimed
    // its term: refused meanwhile, a client would go round the other masters (which name this
    // one) and come back only after its election poll. Should no takeover follow within a
    // TTL, the held calls go on to be refused.
    view.onChange = () => {
      leaderWatch.update();
      if (stopping || held.holding || leading() || view?.leader()?.id !== id) return;
      held.hold();
      setTimeout(() => {
        if (held.holding && !takingOver) held.release();
      }, ttl * 1000).unref();
    };
    leaderWatch.update();
    swarmKey = await sharedSwarmKey(client, prefix);
    copies = await ReleaseCopies.open({ client, prefix, logger: log });
    await registration.start();
  } catch (err) {
    server.forceShutdown();
    http.close();
    leaderWatch.stop();
    await view?.close();
    await copies?.close();
    client.close();
    electionClient.close();
    throw new Error(`cannot reach etcd at ${opts.etcd.endpoints.join(",")}: ${(err as Error).message}`);
  }
  const copyBook = copies;
  /** The trackers of the other masters, in id order (the leader's goes first where it matters). */
  const trackerOf = (httpAddress: string) => `${httpScheme(tls)}://${httpAddress}/announce`;
  const otherTrackers = () =>
    view!
      .masters()
      .filter((m) => m.id !== id)
      .map((m) => trackerOf(m.httpAddress));
  /** A standby fetches through the leader's tracker first. */
  const replicaTrackers = () => {
    const leader = leaderOf();
    const all = view!.masters().map((m) => trackerOf(m.httpAddress));
    if (!leader) return all;
    const first = trackerOf(leader.httpAddress);
    return [first, ...all.filter((u) => u !== first)];
  };

  // ---- the election loop: standby → leader → standby ..., until stop()
  const ledWaiters: Array<(l: Leadership) => void> = [];
  const lead = async (): Promise<void> => {
    while (!stopping) {
      // The warm copy: followed while standing by, so that winning costs a catch-up, not a load.
      let registry: WarmRegistry;
      try {
        registry = await openWarmRegistry({ client, prefix, logger: log, maxTxnOps: opts.etcd.maxTxnOps });
      } catch (err) {
        log.warn("cannot open the registry in etcd; retrying", { err });
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      const replica = await startReleaseReplica({
        masterId: id,
        dataDir: opts.dataDir,
        swarmKey,
        tls,
        copies: copyBook,
        releases: () => registry.store.loadReleases(),
        trackers: replicaTrackers,
        listenHost: host,
        peerPort: opts.peerPort,
        logger: opts.logger ?? createLogger("master.replica"),
      }).catch((err) => {
        log.warn("cannot start the release replica of this standby", { err });
        return undefined;
      });
      registry.onReleasesChanged = () => replica?.nudge();
      if (stopping) {
        // stop() came while this standby was being set up: no new candidacy.
        await replica?.stop();
        await registry.close();
        break;
      }
      let leadership: Leadership;
      try {
        leadership = await campaign.won();
      } catch {
        await replica?.stop();
        await registry.close();
        continue; // resigned (stop(), or a refused fence): stand again unless stopping
      }
      // Calls that arrive from here on wait for the gate rather than being refused.
      held.hold();
      takingOver = true;
      const t = await (async () => {
        // The seeder of the release manager takes the peer port over.
        await replica?.stop();
        if (stopping) return undefined;
        return takeOver(leadership, registry).catch((err) => {
          log.error("could not take over as leader; resigning", { err });
          return undefined;
        });
      })();
      takingOver = false;
      // The frameworks' calls first, and the agents' once what those wrote is stored (half a
      // second at most): a re-subscription is then not answered after a thousand
      // re-registrations' writes.
      const master = t?.term.instance.master;
      held.release(master ? () => committed(master, 500) : undefined);
      if (stopping && !t) {
        await registry.close();
        break;
      }
      if (!t) {
        await registry.close().catch(() => undefined);
        await campaign.resign();
        // Let another master try before this one stands again (a broken data dir, say).
        await new Promise((r) => setTimeout(r, ttl * 1000));
        continue;
      }
      for (const w of ledWaiters.splice(0)) w(leadership);
      const reason = await Promise.race([leadership.lost, t.fenceLostAt]);
      await stepDown(t.term, reason);
    }
  };

  /** From a won election to an open gate. */
  const takeOver = async (
    leadership: Leadership,
    registry: WarmRegistry,
  ): Promise<{ term: Term; fenceLostAt: Promise<Error> } | undefined> => {
    let fenceLost!: (e: Error) => void;
    const fenceLostAt = new Promise<Error>((r) => {
      fenceLost = r;
    });
    registry.onFenceLost = (err) => {
      if (term?.registry === registry) term.fenceLost = true; // the gate closes now
      fenceLost(err);
    };
    const t0 = performance.now();
    await registry.promote({ key: leadership.key, createRevision: leadership.createRevision });
    const promotedMs = performance.now() - t0;
    // Ended, not merely !held(): a takeover that stalls the event loop past the keepalive
    // deadline pauses serving until etcd answers, it does not give the term up.
    if (leadership.signal.aborted) {
      await registry.close();
      return undefined;
    }
    const identity = establishClusterIdentity(opts.dataDir, registry.store, opts.startAfresh === true);
    if (identity.how !== "kept")
      log.info("cluster identity", { cluster: identity.clusterId, how: identity.how });
    const instance = await MasterInstance.create(
      { store: registry.store, access, logger: log, injectedLogger: opts.logger },
      {
        ...instanceOptionsOf(opts),
        config,
        host,
        tls,
        masters: () => view!.snapshot(),
        swarmKey,
        replication: new CopyQuorum(copyBook, log, {
          masterId: id,
          required: opts.releaseCopies,
          timeoutMs: opts.releaseCopyTimeoutMs,
        }),
      },
    );
    const createdMs = performance.now() - t0;
    try {
      await instance.start([announceUrl, ...otherTrackers().filter((u) => u !== announceUrl)]);
    } catch (err) {
      await instance.releases.stop().catch(() => undefined);
      await instance.tracker.close().catch(() => undefined);
      throw err;
    }
    const t: Term = { leadership, registry, instance, fenceLost: false };
    term = t; // the gate opens
    if (leadership.signal.aborted || t.fenceLost) {
      await stepDown(t, new Error("leadership lost while taking over"));
      return undefined;
    }
    registration.update("leader");
    // How long the takeover took, and where: the registry's catch-up and fence, the master's
    // recovery from it, the release store and tracker.
    log.info("leading", {
      id,
      term: leadership.term,
      address: self.address,
      registryMs: Math.round(promotedMs),
      recoveredMs: Math.round(createdMs),
      tookMs: Math.round(performance.now() - t0),
    });
    return { term: t, fenceLostAt };
  };

  /** Closes the gate, then tears the instance down without writing. */
  const stepDown = async (t: Term, reason: Error): Promise<void> => {
    if (term === t) term = undefined; // first: nothing reaches the instance from here on
    log.warn("no longer leading; standing by", { id, term: t.leadership.term, reason: reason.message });
    t.instance.master.detach(`this master no longer leads: ${reason.message}`);
    await stopStep(
      log,
      "stopping the release store",
      () => t.instance.releases.stop(),
      config.shutdownGraceMs,
    );
    await stopStep(log, "closing the tracker", () => t.instance.tracker.close(), config.shutdownGraceMs);
    await t.registry.close().catch(() => undefined);
    if (!t.leadership.signal.aborted) await campaign.resign(); // the fence was refused before the lease said so
    if (!stopping) registration.update("standby");
  };

  const loop = lead().catch((err) => log.error("the election loop failed", { err }));
  writeDiscoveryFile(opts.dataDir, grpcPort, httpPort);
  log.info(`master ${id} listening grpc=${host}:${grpcPort} ${httpScheme(tls)}=${host}:${httpPort}`, {
    transport: tls ? "mTLS" : "insecure",
    etcd: opts.etcd.endpoints.join(","),
    prefix,
  });

  let stopped = false;
  return {
    id,
    grpcPort,
    httpPort,
    address: self.address,
    leading: () => leading() !== undefined,
    instance: () => leading()?.instance,
    led: () => {
      const t = leading();
      if (t) return Promise.resolve(t.leadership);
      return new Promise((r) => ledWaiters.push(r));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      stopping = true;
      const deadline = Date.now() + config.shutdownGraceMs;
      const left = () => Math.max(0, deadline - Date.now());
      const t = term;
      if (t) {
        // What was acknowledged is stored; let the last batch reach etcd before handing over.
        t.instance.master.stop();
        await stopStep(log, "flushing the registry", () => t.registry.flush(), left());
      }
      // Resigning hands over at once instead of after the lease's TTL; the election loop then
      // tears the instance down (stepDown) and ends.
      leaderWatch.stop();
      await stopStep(log, "resigning", () => campaign.resign(), left());
      await stopStep(log, "waiting for the election loop", () => loop, left());
      const clean = await shutdownServer(server, left());
      if (!clean) log.warn("calls still open at the end of the grace period were cut");
      http.closeAllConnections();
      await stopStep(
        log,
        "closing the HTTP port",
        () => new Promise<void>((r) => http.close(() => r())),
        left(),
      );
      await stopStep(log, "removing this master's entry", () => registration.close(), left());
      await copyBook.close();
      await view?.close();
      client.close();
      electionClient.close();
    },
  };
}
