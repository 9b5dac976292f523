// The master's seeder: one webtorrent client in the master process that seeds every stored
// release from the release store, so that a swarm always has a complete source. BitTorrent
// over TCP only: no DHT, no local peer discovery, no uTP, no web seeds, no NAT traversal, no
// peer exchange; peers are found through the master's tracker alone.
import net from "node:net";
import type { Logger } from "../../common/logger.js";
import { type ChokerTorrent, SeedChoker } from "./seed-choker.js";

interface Wire {
  uploaded: number;
}

interface Torrent {
  infoHash: string;
  uploaded: number;
  uploadSpeed: number;
  numPeers: number;
  ready: boolean;
  done: boolean;
  wires: Wire[];
  on(event: "error" | "warning", cb: (err: Error | string) => void): void;
  once(event: "ready", cb: () => void): void;
  once(event: "error", cb: (err: Error | string) => void): void;
}

interface WebTorrentClient {
  listening: boolean;
  add(
    torrent: Uint8Array,
    opts: { path: string; skipVerify: boolean; strategy?: string; uploads?: number },
    cb: (t: Torrent) => void,
  ): Torrent;
  remove(infoHash: string, opts: { destroyStore: boolean }, cb: (err?: Error | null) => void): void;
  address(): { address: string; port: number } | null;
  on(event: "error", cb: (err: Error | string) => void): void;
  once(event: "listening", cb: () => void): void;
  destroy(cb: (err?: Error | null) => void): void;
}

type WebTorrentCtor = new (opts: Record<string, unknown>) => WebTorrentClient;

export interface SeederComponents {
  logger: Logger;
}

export interface SeederInit {
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

  private constructor(
    private readonly client: WebTorrentClient,
    private readonly log: Logger,
    private readonly init: SeederInit,
  ) {}

  static async create(components: SeederComponents, init: SeederInit = {}): Promise<Seeder> {
    const name = "webtorrent";
    const WebTorrent = ((await import(name)) as { default: WebTorrentCtor }).default;
    const opts = {
      dht: false,
      lsd: false,
      utp: false,
      utPex: false,
      webSeeds: false,
      natUpnp: false,
      natPmp: false,
      tracker: {},
      torrentPort: init.peerPort ?? 0,
      uploadLimit: init.uploadLimit && init.uploadLimit > 0 ? init.uploadLimit : -1,
    };
    const client = init.listenHost
      ? bindingTo(init.listenHost, () => new WebTorrent(opts))
      : new WebTorrent(opts);
    if (!client.listening) {
      await new Promise<void>((resolve, reject) => {
        client.once("listening", resolve);
        client.on("error", (err) => reject(typeof err === "string" ? new Error(err) : err));
      });
    }
    client.on("error", (err) => components.logger.error("seeder error", { error: String(err) }));
    return new Seeder(client, components.logger, init);
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
      t.on("warning", (err) => this.log.debug("seeder warning", { infoHash, warning: String(err) }));
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
    return new Promise((resolve) => this.client.destroy(() => resolve()));
  }
}

/**
 * Runs `create` with the TCP listener it opens bound to `host`. webtorrent binds its listener
 * synchronously in its constructor with listen(port, cb) and offers no address option; this
 * redirects exactly that call, and only while `create` runs.
 */
function bindingTo<T>(host: string, create: () => T): T {
  const original = net.Server.prototype.listen;
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === "number" && typeof args[1] === "function") {
      return original.apply(this, [args[0], host, args[1]] as unknown as Parameters<typeof original>);
    }
    return original.apply(this, args as Parameters<typeof original>);
  } as typeof original;
  try {
    return create();
  } finally {
    net.Server.prototype.listen = original;
  }
}
