// The master's seeder: one webtorrent client in the master process that seeds every stored
// release from the release store, so that a swarm always has a complete source. BitTorrent
// over TCP only: no DHT, no local peer discovery, no uTP, no web seeds, no NAT traversal, no
// peer exchange; peers are found through the master's tracker alone. The swarm is private:
// it announces with the master's passkey, and a peer gets pieces only once it proved
// membership or holds a grant (common/swarm-auth.ts).
import type { Logger } from "../../common/logger.js";
import type { TlsMaterial } from "../../common/tls.js";
import { type AuthTorrent, SwarmAuth } from "../../common/swarm-auth.js";
import {
  createSwarmClient,
  destroySwarmClient,
  type SwarmClient,
  type Torrent,
} from "../../common/swarm-client.js";
import { type ChokerTorrent, SeedChoker } from "./seed-choker.js";

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
  /** Address the peer listener binds to (webtorrent binds all interfaces unless told). */
  listenHost?: string;
  /** Peer port; 0 = a free one. */
  peerPort?: number;
  /** Upload cap in bytes per second; 0 or less = none. */
  uploadLimit?: number;
  /** Unchoke slots: how many peers download from the master at once (default 4; seed-choker.ts). */
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
  private readonly torrents = new Map<string, Torrent>();
  private readonly chokers = new Map<string, SeedChoker>();
  readonly auth: SwarmAuth;

  private constructor(
    private readonly client: SwarmClient,
    private readonly log: Logger,
    private readonly init: SeederInit,
    swarm: SeederComponents["swarm"],
  ) {
    this.auth = new SwarmAuth({
      key: () => swarm.key,
      peerId: client.peerId,
      admitWithoutProof: (address, infoHash) => swarm.granted(address, infoHash),
      timeoutMs: init.authTimeoutMs,
      log,
    });
  }

  static async create(components: SeederComponents, init: SeederInit = {}): Promise<Seeder> {
    const client = await createSwarmClient({
      peerPort: init.peerPort,
      listenHost: init.listenHost,
      uploadLimit: init.uploadLimit,
      tls: init.tls,
      announceParams: () => ({ passkey: components.swarm.masterPasskey() }),
    });
    client.on("error", (err) => components.logger.error("seeder error", { error: String(err) }));
    return new Seeder(client, components.logger, init, components.swarm);
  }

  get port(): number {
    return this.client.address()?.port ?? 0;
  }

  /**
   * Seeds the torrent whose single file lies in `dir` (under the torrent's file name).
   * With `verify` false, the bytes are taken as complete without hashing them again: they
   * were checked against their sha256 when they were stored.
   */
  seed(infoHash: string, torrent: Uint8Array, dir: string, verify: boolean): Promise<void> {
    if (this.torrents.has(infoHash)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const t = this.client.add(torrent, { path: dir, skipVerify: !verify, strategy: "rarest" }, () => {});
      this.torrents.set(infoHash, t);
      // The guard first: the choker's unchoke then goes through it.
      this.auth.attach(t as unknown as AuthTorrent);
      const choker = new SeedChoker(
        {
          slots: this.init.uploadSlots ?? 4,
          maxHoldMs: this.init.turnMs ?? 10_000,
        },
        this.log,
      );
      choker.attach(t as unknown as ChokerTorrent);
      this.chokers.set(infoHash, choker);
      t.once("ready", () => {
        settled = true;
        resolve();
      });
      t.on("error", (err) => {
        const message = typeof err === "string" ? err : err.message;
        this.torrents.delete(infoHash);
        this.dropChoker(infoHash);
        if (!settled) {
          settled = true;
          reject(new Error(`cannot seed ${infoHash}: ${message}`));
        } else this.log.error("seeding failed", { infoHash, error: message });
      });
      t.on("warning", (err) =>
        this.log.debug("seeder warning", {
          infoHash,
          warning: String(err).replace(/passkey=\w+/g, "passkey=…"),
        }),
      );
    });
  }

  private dropChoker(infoHash: string): void {
    this.chokers.get(infoHash)?.stop();
    this.chokers.delete(infoHash);
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
  unseed(infoHash: string): Promise<void> {
    this.dropChoker(infoHash);
    if (!this.torrents.delete(infoHash)) return Promise.resolve();
    return new Promise((resolve) =>
      this.client.remove(infoHash, { destroyStore: false }, (err) => {
        if (err) this.log.warn("could not stop seeding", { infoHash, error: err.message });
        resolve();
      }),
    );
  }

  stop(): Promise<void> {
    for (const infoHash of [...this.chokers.keys()]) this.dropChoker(infoHash);
    this.torrents.clear();
    return destroySwarmClient(this.client);
  }
}
