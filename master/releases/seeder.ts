// The master's seeder: one swarm engine in the master process that seeds every stored release
// from the release store, so that a swarm always has a complete source. BitTorrent over TCP
// only; peers are found through the master's tracker alone. The seed super-seeds (BEP 16):
// each peer is offered one piece at a time and no piece goes out twice before every piece is
// out once, so the master's link carries about one copy of a release whatever the number of
// agents (common/swarm/super-seeder.ts). At most 4 peers download from it at once, in turns
// (common/swarm/choker.ts). The swarm is private: it announces with the master's passkey, and
// a peer gets pieces only once it proved membership or holds a grant (common/swarm-auth.ts).
import type { Logger } from "../../common/logger.js";
import type { TlsMaterial } from "../../common/tls.js";
import { SwarmEngine } from "../../common/swarm/swarm-engine.js";
import type { TorrentSession } from "../../common/swarm/torrent-session.js";

export interface SeederComponents {
  logger: Logger;
  /** The private swarm's key, the master's passkey, and the grants (swarm-access.ts). */
  swarm: {
    key: Uint8Array;
    masterPasskey(): string;
    granted(address: string, infoHash: string): boolean;
  };
}

export interface SeederInit {
  /** TLS material for announces to the master's own HTTPS tracker; null = plain HTTP (--insecure). */
  tls?: TlsMaterial | null;
  /** Address the peer listener binds to (all interfaces unless told). */
  listenHost?: string;
  /** Peer port; 0 = a free one. */
  peerPort?: number;
  /** Upload cap in bytes per second; 0 or less = none. */
  uploadLimit?: number;
  /** Unchoke slots: how many peers download from the master at once (default 4; common/swarm/choker.ts). */
  uploadSlots?: number;
  /** Longest turn of a peer at the seed while others wait, in milliseconds (default 10 s). */
  turnMs?: number;
  /** How long a peer has to prove membership before it is disconnected (default 5 s). */
  authTimeoutMs?: number;
}

export interface SeedStats {
  ready: boolean;
  uploaded: number;
  uploadRate: number;
  peers: number;
}

export class Seeder {
  private readonly torrents = new Map<string, TorrentSession>();

  private constructor(
    private readonly engine: SwarmEngine,
    private readonly log: Logger,
  ) {}

  static async create(components: SeederComponents, init: SeederInit = {}): Promise<Seeder> {
    const { swarm, logger } = components;
    const engine = await SwarmEngine.create({
      peerPort: init.peerPort,
      listenHost: init.listenHost,
      uploadLimit: init.uploadLimit,
      uploadSlots: init.uploadSlots ?? 4,
      turnMs: init.turnMs ?? 10_000,
      tls: init.tls,
      announceParams: () => ({ passkey: swarm.masterPasskey() }),
      swarmKey: () => swarm.key,
      admitWithoutProof: (address, infoHash) => swarm.granted(address, infoHash),
      authTimeoutMs: init.authTimeoutMs,
      log: logger,
    });
    return new Seeder(engine, logger);
  }

  /** Peers admitted and refused by the swarm's handshake (for tests and logs). */
  get auth(): { counts: { verified: number; granted: number; refused: number } } {
    return { counts: this.engine.authCounts };
  }

  get port(): number {
    return this.engine.address()?.port ?? 0;
  }

  /**
   * Seeds the torrent whose single file lies in `dir` (under the torrent's file name).
   * With `verify` false, the bytes are taken as complete without hashing them again: they
   * were checked against their sha256 when they were stored.
   */
  async seed(infoHash: string, torrent: Uint8Array, dir: string, verify: boolean): Promise<void> {
    if (this.torrents.has(infoHash)) return;
    let t: TorrentSession;
    try {
      t = await this.engine.add(torrent, { path: dir, skipVerify: !verify, superSeed: true });
    } catch (err) {
      throw new Error(`cannot seed ${infoHash}: ${(err as Error).message}`);
    }
    this.torrents.set(infoHash, t);
    t.on("error", (err: Error) => {
      this.log.error("seeding failed", { infoHash, err });
      if (this.torrents.get(infoHash) === t) void this.unseed(infoHash);
    });
    t.on("warning", (w: string) =>
      this.log.debug("seeder warning", { infoHash, warning: w.replace(/passkey=\w+/g, "passkey=…") }),
    );
  }

  isSeeding(infoHash: string): boolean {
    const t = this.torrents.get(infoHash);
    return t?.ready === true && t.done;
  }

  stats(infoHash: string): SeedStats | undefined {
    const t = this.torrents.get(infoHash);
    if (!t) return undefined;
    return { ready: t.ready, uploaded: t.uploaded, uploadRate: t.uploadSpeed, peers: t.numPeers };
  }

  /** Stops seeding; the files stay where they are. */
  async unseed(infoHash: string): Promise<void> {
    if (!this.torrents.delete(infoHash)) return;
    await this.engine.remove(infoHash);
  }

  stop(): Promise<void> {
    this.torrents.clear();
    return this.engine.destroy();
  }
}
