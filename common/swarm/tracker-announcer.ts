// Announces one torrent to its HTTP trackers (BEP 3, compact peer lists of BEP 23) and hands
// the peers they return to the session. Every tracker of the torrent is announced to, not
// only the first tier: with several masters (HA) each runs a tracker, and a peer must be
// found through whichever master leads now. Extra parameters (the private swarm's passkey)
// are read at each announce, so new credentials count from the next one; `announceNow` makes
// that next one immediate.
//
// Announces go through node:http and node:https, not fetch: fetch's HTTP parser is a
// WebAssembly module compiled in each process at its first use, which the distribution
// benchmark's profile showed costing more CPU than an agent's whole announce traffic.
import http from "node:http";
import https from "node:https";
import { bdecode } from "./bencode.js";

export interface PeerAddress {
  host: string;
  port: number;
}

export interface AnnounceStats {
  uploaded: number;
  downloaded: number;
  left: number;
}

export interface TrackerAnnouncerInit {
  urls: string[];
  infoHash: string;
  peerId: string;
  port: () => number;
  stats: () => AnnounceStats;
  params?: () => Record<string, string>;
  /** For https trackers: trusts the cluster CA and presents this host's certificate. */
  httpsAgent?: https.Agent;
  onPeers: (peers: PeerAddress[]) => void;
  onWarning: (message: string) => void;
  /** Re-announce period when the tracker names none (default 30 s). */
  defaultIntervalMs?: number;
}

const TIMEOUT_MS = 10_000;
/** Never announce more often than this, whatever a tracker asks. */
const MIN_INTERVAL_MS = 2_000;

function percentBytes(hex: string): string {
  let s = "";
  for (let i = 0; i < hex.length; i += 2) s += `%${hex.slice(i, i + 2)}`;
  return s;
}

/** The peers of a tracker's answer, compact (6 bytes each) or as a list of dictionaries. */
export function parsePeers(peers: unknown): PeerAddress[] {
  const out: PeerAddress[] = [];
  if (peers instanceof Uint8Array) {
    for (let i = 0; i + 6 <= peers.length; i += 6) {
      const port = (peers[i + 4]! << 8) | peers[i + 5]!;
      if (port > 0) out.push({ host: `${peers[i]}.${peers[i + 1]}.${peers[i + 2]}.${peers[i + 3]}`, port });
    }
  } else if (Array.isArray(peers)) {
    for (const p of peers as Record<string, unknown>[]) {
      const ip = p?.ip instanceof Uint8Array ? Buffer.from(p.ip).toString() : undefined;
      const port = typeof p?.port === "number" ? p.port : 0;
      if (ip && port > 0 && port < 65536) out.push({ host: ip, port });
    }
  }
  return out;
}

export class TrackerAnnouncer {
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  private intervalMs: number;

  constructor(private readonly init: TrackerAnnouncerInit) {
    this.intervalMs = init.defaultIntervalMs ?? 30_000;
  }

  /** Announces now (the first time with event=started), then every interval. */
  announceNow(): void {
    if (this.stopped) return;
    const event = this.started ? undefined : "started";
    this.started = true;
    this.announce(event);
  }

  completed(): void {
    if (!this.stopped) this.announce("completed");
  }

  /** Stops announcing; tells the trackers we left, without waiting for them. */
  stop(): void {
    if (this.stopped) return;
    if (this.started) this.announce("stopped");
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private announce(event: "started" | "completed" | "stopped" | undefined): void {
    clearTimeout(this.timer);
    for (const url of this.init.urls) void this.announceTo(url, event);
    if (event === "stopped") return;
    this.timer = setTimeout(() => this.announce(undefined), this.intervalMs);
    this.timer.unref();
  }

  private async announceTo(url: string, event: string | undefined): Promise<void> {
    const s = this.init.stats();
    const q = new URLSearchParams({
      port: String(this.init.port()),
      uploaded: String(Math.floor(s.uploaded)),
      downloaded: String(Math.floor(s.downloaded)),
      left: String(Math.max(0, Math.floor(s.left))),
      compact: "1",
      numwant: "50",
      ...(event ? { event } : {}),
      ...(this.init.params?.() ?? {}),
    });
    const full = `${url}${url.includes("?") ? "&" : "?"}info_hash=${percentBytes(this.init.infoHash)}&peer_id=${percentBytes(this.init.peerId)}&${q}`;
    let body: Uint8Array;
    try {
      body = await get(full, this.init.httpsAgent);
    } catch (err) {
      if (!this.stopped) this.init.onWarning(`announce to ${redact(url)} failed: ${(err as Error).message}`);
      return;
    }
    if (this.stopped || event === "stopped") return;
    let answer: Record<string, unknown>;
    try {
      answer = bdecode(body) as Record<string, unknown>;
      if (typeof answer !== "object" || answer === null) throw new Error("not a dictionary");
    } catch (err) {
      this.init.onWarning(
        `tracker ${redact(url)} answered something that is not bencoded: ${(err as Error).message}`,
      );
      return;
    }
    const failure = answer["failure reason"];
    if (failure instanceof Uint8Array) {
      this.init.onWarning(`tracker ${redact(url)} refused the announce: ${Buffer.from(failure).toString()}`);
      return;
    }
    if (typeof answer.interval === "number" && answer.interval > 0) {
      const ms = Math.max(MIN_INTERVAL_MS, answer.interval * 1000);
      if (ms !== this.intervalMs) {
        this.intervalMs = ms;
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.announce(undefined), this.intervalMs);
        this.timer.unref();
      }
    }
    const peers = parsePeers(answer.peers);
    if (peers.length > 0) this.init.onPeers(peers);
  }
}

/** GETs `url`; resolves its body (any status: a tracker's refusal is a bencoded answer). */
function get(url: string, httpsAgent: https.Agent | undefined): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const secure = url.startsWith("https:");
    const req = (secure ? https : http).get(
      url,
      { timeout: TIMEOUT_MS, ...(secure && httpsAgent ? { agent: httpsAgent } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve(Buffer.concat(chunks)));
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer in ${TIMEOUT_MS / 1000} s`)));
    req.on("error", reject);
  });
}

/** A tracker URL without its credentials, for messages. */
function redact(url: string): string {
  return url.replace(/(passkey|grant)=[^&]*/g, "$1=…");
}
