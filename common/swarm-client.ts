// The part of webtorrent 2.8 that Yard uses (the agents' fetcher and the master's seeder),
// typed here because the package ships no types. The client is created with BitTorrent over TCP only: no DHT, no local peer
// discovery, no uTP, no web seeds, no NAT traversal; the only tracker is the announce URL in
// each torrent (the master's), with the credentials `announceParams` gives. Its TCP listener binds to `listenHost` when given, since
// webtorrent itself has no option for the listen address.
import net from "node:net";
import { clusterDispatcher } from "./cluster-fetch.js";
import type { TlsMaterial } from "./tls.js";

export interface Wire {
  peerId: string;
  remoteAddress?: string;
  remotePort?: number;
  uploaded: number;
  downloaded: number;
  destroy(): void;
  on(event: "close", cb: () => void): void;
}

export interface TorrentFile {
  name: string;
  path: string;
  length: number;
}

export interface Torrent {
  infoHash: string;
  name: string;
  length: number;
  pieceLength: number;
  downloaded: number;
  uploaded: number;
  downloadSpeed: number;
  uploadSpeed: number;
  progress: number;
  done: boolean;
  ready: boolean;
  path: string;
  files: TorrentFile[];
  wires: Wire[];
  numPeers: number;
  on(event: "done" | "ready" | "metadata", cb: () => void): void;
  on(event: "warning" | "error", cb: (err: Error | string) => void): void;
  on(event: "wire", cb: (wire: Wire, addr?: string) => void): void;
  once(event: "done" | "ready", cb: () => void): void;
  once(event: "error", cb: (err: Error | string) => void): void;
  removeListener(event: string, cb: (...args: never[]) => void): void;
  destroy(opts: { destroyStore?: boolean } | undefined, cb: (err?: Error | null) => void): void;
}

export interface AddOptions {
  path: string;
  /** "rarest" spreads pieces across the swarm; webtorrent's default is "sequential". */
  strategy?: "rarest" | "sequential";
  /** Unchoke slots for uploads (webtorrent's default 10). */
  uploads?: number;
  skipVerify?: boolean;
  /** Chunk-store constructor (fs-chunk-store by default). */
  store?: unknown;
  storeCacheSlots?: number;
  private?: boolean;
}

export interface SwarmClient {
  /** This client's peer id, hex. */
  peerId: string;
  torrents: Torrent[];
  torrentPort: number;
  listening: boolean;
  add(torrentId: Uint8Array | string, opts: AddOptions, cb: (t: Torrent) => void): Torrent;
  seed(
    input: string | Uint8Array,
    opts: AddOptions & { announce?: string[]; name?: string; pieceLength?: number },
    cb: (t: Torrent) => void,
  ): Torrent;
  get(infoHash: string): Promise<Torrent | null>;
  remove(
    torrentId: string | Torrent,
    opts: { destroyStore?: boolean },
    cb: (err?: Error | null) => void,
  ): void;
  throttleDownload(rate: number): void;
  throttleUpload(rate: number): void;
  address(): { address: string; port: number } | null;
  on(event: "error", cb: (err: Error | string) => void): void;
  once(event: "listening", cb: () => void): void;
  destroy(cb: (err?: Error | null) => void): void;
}

export interface SwarmClientOptions {
  /** BitTorrent TCP listen port; 0 = a free one. */
  peerPort?: number;
  /** Address the peer listener binds to; all interfaces when unset. */
  listenHost?: string;
  /** Bytes per second; undefined or <= 0 = unlimited. */
  uploadLimit?: number;
  downloadLimit?: number;
  maxConns?: number;
  /**
   * The cluster's TLS material: announces to the master's HTTPS tracker trust the cluster CA
   * and present this certificate. Null or unset: plain HTTP trackers only (--insecure).
   */
  tls?: TlsMaterial | null;
  /**
   * Extra parameters of every announce (the private swarm's passkey), read at each announce
   * so that new credentials take effect at the next one.
   */
  announceParams?: () => Record<string, string>;
}

type WebTorrentCtor = new (opts: Record<string, unknown>) => SwarmClient;
let ctor: WebTorrentCtor | undefined;

async function loadWebTorrent(): Promise<WebTorrentCtor> {
  if (!ctor) {
    // A computed specifier keeps the compiler from looking for types the package lacks.
    const name = "webtorrent";
    const mod = (await import(name)) as { default: WebTorrentCtor };
    ctor = mod.default;
  }
  return ctor;
}

/** Creates a client and resolves once its peer listener is bound. */
export async function createSwarmClient(opts: SwarmClientOptions = {}): Promise<SwarmClient> {
  const WebTorrent = await loadWebTorrent();
  const limit = (v: number | undefined) => (v !== undefined && v > 0 ? v : -1);
  const clientOpts = {
    dht: false,
    lsd: false,
    utp: false,
    webSeeds: false,
    natUpnp: false,
    natPmp: false,
    utPex: false,
    torrentPort: opts.peerPort ?? 0,
    uploadLimit: limit(opts.uploadLimit),
    downloadLimit: limit(opts.downloadLimit),
    maxConns: opts.maxConns ?? 55,
    tracker: {
      getAnnounceOpts: () => opts.announceParams?.() ?? {},
      ...(opts.tls ? { proxyOpts: { httpsAgent: await clusterDispatcher(opts.tls) } } : {}),
    },
  };
  let client: SwarmClient;
  const host = opts.listenHost;
  if (host) {
    // The listener is bound synchronously inside the constructor: redirect that one call.
    const original = net.Server.prototype.listen;
    net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
      if (typeof args[0] === "number" && typeof args[1] === "function") {
        return (original as (...a: unknown[]) => net.Server).call(this, args[0], host, args[1]);
      }
      return original.apply(this, args as Parameters<typeof original>);
    } as typeof original;
    try {
      client = new WebTorrent(clientOpts);
    } finally {
      net.Server.prototype.listen = original;
    }
  } else {
    client = new WebTorrent(clientOpts);
  }
  if (!client.listening) {
    await new Promise<void>((resolve, reject) => {
      client.once("listening", resolve);
      client.on("error", (err) => reject(typeof err === "string" ? new Error(err) : err));
    });
  }
  return client;
}

export function destroySwarmClient(client: SwarmClient): Promise<void> {
  return new Promise((resolve) => client.destroy(() => resolve()));
}
