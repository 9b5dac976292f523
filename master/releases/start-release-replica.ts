import type { Logger } from "../../common/logger.js";
import type { TlsMaterial } from "../../common/tls.js";
import type { Release } from "../../proto/gen/yard/v1/release.js";
import { ArtifactFetcher } from "../../agent/fetcher/artifact-fetcher.js";
import type { ReleaseCopies } from "./release-copies.js";
import { ReleaseFiles } from "./release-files.js";
import { ReleaseReplica } from "./release-replica.js";
import { SwarmAccess } from "./swarm-access.js";
import { join } from "node:path";

export interface StartReleaseReplicaInit {
  masterId: string;
  /** The master's data dir (the release manager's files are under releases/). */
  dataDir: string;
  /** The cluster's swarm key (shared-swarm-key.ts). */
  swarmKey: Buffer;
  /** The master's TLS material: announces to the leader's HTTPS tracker present its certificate. */
  tls: TlsMaterial | null;
  copies: ReleaseCopies;
  /** The releases of the standby's warm registry. */
  releases: () => Release[];
  /** Tracker URLs, the leader's first. */
  trackers: () => string[];
  /** The peer listener: the master's --host and --peer-port (0 = a free one). */
  listenHost?: string;
  peerPort?: number;
  /** Download and upload caps, bytes per second (none by default). */
  downloadRate?: number;
  uploadRate?: number;
  retryMs?: number;
  logger: Logger;
}

export interface RunningReplica {
  replica: ReleaseReplica;
  fetcher: ArtifactFetcher;
  /** The registry's releases changed. */
  nudge(): void;
  /** Stops copying and the fetcher (its peer port is free again when this resolves). */
  stop(): Promise<void>;
}

export async function startReleaseReplica(init: StartReleaseReplicaInit): Promise<RunningReplica> {
  const log = init.logger;
  const files = new ReleaseFiles(init.dataDir);
  const fetcher = new ArtifactFetcher(
    {
      onProgress: (p) => {
        if (p.state === "FAILED") log.warn("standby fetch failed", { release: p.release, error: p.error });
      },
    },
    {
      cacheDir: join(files.root, "replica"),
      tls: init.tls,
      peerPort: init.peerPort,
      listenHost: init.listenHost,
      downloadRate: init.downloadRate,
      uploadRate: init.uploadRate,
      logger: log,
    },
  );
  // The masters' passkey: the leader's tracker admits it as its own seed's.
  const passkey = new SwarmAccess({ isMember: () => false }, init.swarmKey).masterPasskey();
  fetcher.setSwarmCredentials(init.swarmKey, passkey);
  await fetcher.start();
  const replica = new ReleaseReplica(
    { releases: init.releases, copies: init.copies, fetcher, files, logger: log },
    { masterId: init.masterId, trackers: init.trackers, retryMs: init.retryMs },
  );
  replica.nudge();
  log.info("release replica started", { peerPort: fetcher.peerPort() });
  let stopping: Promise<void> | undefined;
  return {
    replica,
    fetcher,
    nudge: () => replica.nudge(),
    stop: () => {
      stopping ??= (async () => {
        await replica.stop();
        await fetcher.stop();
        await replica.settled();
      })().catch((err) => log.warn("stopping the release replica failed", { err }));
      return stopping;
    },
  };
}
