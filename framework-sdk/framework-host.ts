// How a framework daemon runs its scheduler behind its own gRPC API, in one of two ways:
//
// - alone (the default): one instance on a local store (SQLite in its data dir); its API
//   answers as long as it runs;
// - on etcd: several instances share one state and one framework id; FrameworkLeader elects
//   the active one, which runs the scheduler on a store over the etcd state, while the others
//   answer every call with a redirect to it (StandbyGate) and take over when it goes.
//
// The service and batch frameworks differ only in their store and their scheduler; a third-
// party framework that wants to fail over the same way hands its own to hostFramework().
import type { Server, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { Etcd3 } from "etcd3";
import type { Logger } from "../common/logger.js";
import { shutdownServer, stopStep } from "../common/shutdown.js";
import { type FrameworkEtcdOptions, FrameworkLeader } from "./framework-leader.js";
import { StandbyGate } from "./standby-gate.js";
import type { StateKv } from "./state/state-kv.js";

/** One run of a scheduler over a store: the whole life of a lone instance, or one term. */
export interface HostedRun<Impl> {
  /** The API implementation this run answers with. */
  impl: Impl;
  frameworkId(): string | undefined;
  stop(): Promise<void>;
}

export interface FrameworkHostInit<Impl extends UntypedServiceImplementation, Store> {
  server: Server;
  endpoint: string;
  service: ServiceDefinition;
  /** Who answers, in a standby's redirect and in logs: "service framework", say. */
  what: string;
  /** The framework's name: its election runs under `<etcd prefix>/frameworks/<name>`. */
  name: string;
  /** State on etcd and one active instance among several; absent: alone on a local store. */
  etcd?: FrameworkEtcdOptions;
  log: Logger;
  shutdownGraceMs: number;
  /** Alone: opens the local store (closed when the framework stops). */
  openLocalStore(): Store & { close(): void };
  /** On etcd: the store over the shared state, for one term. */
  storeOnState(state: StateKv): Store;
  /** Starts the scheduler and its API over a store. */
  start(store: Store): HostedRun<Impl>;
  /** Runs last when the framework stops, or when it fails to start (close clients here). */
  close(): void;
}

export interface FrameworkHostHandle {
  endpoint: string;
  frameworkId(): string | undefined;
  /** This instance runs the scheduler (always true when alone). */
  isActive(): boolean;
  stop(): Promise<void>;
}

/** Adds the framework's service to `server` and starts it; see the file's comment. */
export function hostFramework<Impl extends UntypedServiceImplementation, Store>(
  init: FrameworkHostInit<Impl, Store>,
): FrameworkHostHandle {
  return init.etcd ? hostOnEtcd(init, init.etcd) : hostAlone(init);
}

/** A stop() that finishes within the grace period, whatever the master or the watchers do. */
function onceWithinGrace(graceMs: number, steps: (left: () => number) => Promise<void>): () => Promise<void> {
  let stopping: Promise<void> | undefined;
  return () => {
    stopping ??= (() => {
      const deadline = Date.now() + graceMs;
      return steps(() => Math.max(0, deadline - Date.now()));
    })();
    return stopping;
  };
}

function hostOnEtcd<Impl extends UntypedServiceImplementation, Store>(
  init: FrameworkHostInit<Impl, Store>,
  etcd: FrameworkEtcdOptions,
): FrameworkHostHandle {
  const { log } = init;
  const client = new Etcd3({ hosts: etcd.endpoints });
  const leader = new FrameworkLeader({
    client,
    prefix: etcd.prefix,
    name: init.name,
    address: init.endpoint,
    ttlSeconds: etcd.leaseTtlSeconds,
    logger: log,
  });
  let current: HostedRun<Impl> | undefined;
  const gate = new StandbyGate({ leader: () => leader.leaderAddress(), what: `${init.what} instance` });
  init.server.addService(
    init.service,
    gate.wrap<Impl>(init.service, () => (leader.isActive ? current?.impl : undefined)),
  );
  leader.start(async ({ state }) => {
    const run = init.start(init.storeOnState(state));
    current = run;
    return {
      stop: async () => {
        current = undefined;
        await stopStep(log, "stopping the scheduler", () => run.stop(), init.shutdownGraceMs);
      },
    };
  });
  log.info(`${init.what} listening (one instance of several on etcd)`, { endpoint: init.endpoint });
  return {
    endpoint: init.endpoint,
    frameworkId: () => current?.frameworkId(),
    isActive: () => leader.isActive,
    stop: onceWithinGrace(init.shutdownGraceMs, async (left) => {
      await stopStep(log, "leaving the election", () => leader.stop(), left());
      await shutdownServer(init.server, left());
      init.close();
      client.close();
    }),
  };
}

function hostAlone<Impl extends UntypedServiceImplementation, Store>(
  init: FrameworkHostInit<Impl, Store>,
): FrameworkHostHandle {
  const { log } = init;
  let store: Store & { close(): void };
  let run: HostedRun<Impl>;
  try {
    store = init.openLocalStore();
  } catch (err) {
    init.server.forceShutdown();
    init.close();
    throw err;
  }
  try {
    run = init.start(store);
  } catch (err) {
    init.server.forceShutdown();
    init.close();
    store.close();
    throw err;
  }
  init.server.addService(init.service, run.impl);
  log.info(`${init.what} listening`, { endpoint: init.endpoint });
  return {
    endpoint: init.endpoint,
    frameworkId: () => run.frameworkId(),
    isActive: () => true,
    stop: onceWithinGrace(init.shutdownGraceMs, async (left) => {
      await stopStep(log, "stopping the scheduler", () => run.stop(), left());
      await shutdownServer(init.server, left());
      init.close();
      store.close();
    }),
  };
}
