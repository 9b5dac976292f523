// One leading master over a registry: the core, the release store with its tracker and seeder,
// the gRPC service implementations and the HTTP handler, without ports of their own. A single
// master builds one at start; a master in HA mode builds one each time it wins the election
// and drops it when it loses, while its ports stay open (master/ha/).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { UntypedServiceImplementation } from "@grpc/grpc-js";
import { createLogger, type Logger } from "../common/logger.js";
import type { TlsMaterial } from "../common/tls.js";
import type { GetMastersResponse } from "../proto/gen/yard/v1/operator.js";
import type { AccessControl } from "./auth/access.js";
import { agentService } from "./grpc/agent-service.js";
import { operatorService } from "./grpc/operator-service.js";
import { releaseService } from "./grpc/release-service.js";
import { schedulerService } from "./grpc/scheduler-service.js";
import { httpHandler } from "./http-server.js";
import { Master, type MasterConfig } from "./master.js";
import type { RegistryStore } from "./store/registry-store.js";
import type { ReleaseReplication } from "./releases/copy-quorum.js";
import { ReleaseManager } from "./releases/release-manager.js";
import { ReleaseTracker } from "./releases/release-tracker.js";
import { SwarmAccess } from "./releases/swarm-access.js";
import { httpScheme } from "../common/tls.js";
import { ServiceApps } from "./ui/service-apps.js";
import { uiLoginMinter } from "./ui/ui-login.js";
import { uiHandler } from "./ui/ui-routes.js";
import { UiSessions } from "./ui/ui-sessions.js";

export interface MasterInstanceInit {
  dataDir: string;
  config: MasterConfig;
  /** Address the seeder listens on. */
  host: string;
  peerPort?: number;
  seedUploadLimit?: number;
  releaseVerifyIntervalMs?: number;
  tls: TlsMaterial | null;
  /** What GetMasters answers. */
  masters: () => GetMastersResponse;
  /** HA: the cluster's swarm key (releases/shared-swarm-key.ts); drawn here otherwise. */
  swarmKey?: Buffer;
  /** HA: copies of releases on the standbys (releases/copy-quorum.ts). */
  replication?: ReleaseReplication;
}

/** What the daemons (single master, HA) pass on from their options to every instance. */
export type DaemonInstanceOptions = Pick<
  MasterInstanceInit,
  "dataDir" | "peerPort" | "seedUploadLimit" | "releaseVerifyIntervalMs"
>;

/** The options of `opts` that an instance takes as they are. */
export function instanceOptionsOf(opts: DaemonInstanceOptions): DaemonInstanceOptions {
  const { dataDir, peerPort, seedUploadLimit, releaseVerifyIntervalMs } = opts;
  return { dataDir, peerPort, seedUploadLimit, releaseVerifyIntervalMs };
}

export interface MasterInstanceComponents {
  store: RegistryStore;
  access: AccessControl;
  logger: Logger;
  /**
   * The logger a caller injected (a test, an embedding): the release store and the tracker
   * log to it too. By default they have their own components (master.releases, master.tracker).
   */
  injectedLogger?: Logger;
}

/** The gRPC implementations of one instance, by service (keys of the generated definitions). */
export interface MasterServices {
  agent: UntypedServiceImplementation;
  scheduler: UntypedServiceImplementation;
  operator: UntypedServiceImplementation;
  release: UntypedServiceImplementation;
}

export class MasterInstance {
  private constructor(
    readonly master: Master,
    readonly releases: ReleaseManager,
    readonly tracker: ReleaseTracker,
    readonly services: MasterServices,
    readonly http: (req: IncomingMessage, res: ServerResponse) => void,
  ) {}

  /** Builds the instance over `store` (nothing runs yet: see start()). */
  static async create(c: MasterInstanceComponents, init: MasterInstanceInit): Promise<MasterInstance> {
    const master = new Master(c.store, init.config, c.logger);
    let releases: ReleaseManager | undefined;
    const swarm = new SwarmAccess({ isMember: (agentId) => master.isSwarmMember(agentId) }, init.swarmKey);
    const tracker = await ReleaseTracker.create({
      isKnown: (infoHash) => releases?.knows(infoHash) ?? false,
      caller: (params, address, infoHash) => swarm.caller(params, address, infoHash),
      logger: c.injectedLogger ?? createLogger("master.tracker"),
    });
    releases = new ReleaseManager(
      {
        store: c.store,
        cluster: master,
        logger: c.injectedLogger ?? createLogger("master.releases"),
        tracker,
        swarm,
        replication: init.replication,
      },
      {
        dataDir: init.dataDir,
        seeder: {
          listenHost: init.host,
          peerPort: init.peerPort,
          uploadLimit: init.seedUploadLimit,
          tls: init.tls,
        },
        verifyIntervalMs: init.releaseVerifyIntervalMs,
      },
    );
    const releaseStore = releases;
    master.attachReleases(releaseStore);
    // The web UI's sessions live with the leading instance: a new leader asks for a new login.
    const sessions = new UiSessions();
    c.access.acceptDelegations((token) => sessions.delegated(token));
    const ui = uiHandler({
      master,
      access: c.access,
      sessions,
      apps: new ServiceApps({ frameworks: () => master.frameworkStates(), tls: init.tls }),
      releases: releaseStore,
      secure: init.tls !== null,
    });
    const uiLogin = uiLoginMinter(sessions, init.masters, httpScheme(init.tls));
    const services: MasterServices = {
      agent: agentService(master, c.access) as unknown as UntypedServiceImplementation,
      scheduler: schedulerService(master, c.access) as unknown as UntypedServiceImplementation,
      operator: operatorService(
        master,
        c.access,
        init.masters,
        uiLogin,
      ) as unknown as UntypedServiceImplementation,
      release: releaseService(
        releaseStore,
        c.access,
        (frameworkId, session, principal) => master.checkSession(frameworkId, session, principal),
        master.streams,
      ) as unknown as UntypedServiceImplementation,
    };
    return new MasterInstance(
      master,
      releaseStore,
      tracker,
      services,
      httpHandler(master, c.access, tracker, ui),
    );
  }

  /** Starts the release store (torrents announce to `announce`, this master's tracker first) and the master's timers. */
  async start(announce: readonly string[]): Promise<void> {
    await this.releases.start(announce);
    this.master.start();
  }
}
