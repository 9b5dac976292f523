// Who the master's seed uploads to. webtorrent unchokes every peer that says "interested"
// and re-chokes only every 10 s, so at the start of a staging the seed splits its link among
// all agents and sends each of them much the same pieces: the agents then have little to
// trade. This choker replaces that policy for the seed's torrents:
//   - at most `slots` peers are unchoked at once; other interested peers wait in a queue;
//   - an unchoked peer is choked again (and sent to the back of the queue) once it held its
//     slot `maxHoldMs`, or took next to nothing during a tick (a quarter of that: it gets its
//     pieces elsewhere), if others wait.
// A few agents at a time get pieces straight from the seed at its full rate, and the agents
// (which pick rarest first) fetch the rest from each other: the seed sends each piece a few
// times instead of once per agent, close to what super-seeding achieves, without changing the
// wire protocol. Measured on the distribution benchmark (docs/benchmarks.md): the seed's
// share fell from ~5 to ~2.4 copies and the staging time by about a third. Turns ended after a
// byte quantum (4 MiB) were worse: choking a peer mid-piece wastes the blocks in flight.
//
// It hooks webtorrent 2.8 internals (Torrent#_rechoke, Wire#unchoke); the version is pinned.
import type { Logger } from "../../common/logger.js";

export interface ChokerWire {
  uploaded: number;
  peerInterested: boolean;
  destroyed: boolean;
  unchoke(): void;
  choke(): void;
  on(event: "interested" | "uninterested" | "close", cb: () => void): void;
}

export interface ChokerTorrent {
  on(event: "wire", cb: (wire: ChokerWire) => void): void;
  _rechoke?: () => void;
}

export interface ChokerOptions {
  slots: number;
  /** Longest turn while others wait. */
  maxHoldMs: number;
}

interface Slot {
  since: number;
  /** wire.uploaded at the previous rotation check: a holder that stopped asking is let go. */
  uploadedAtCheck: number;
}

/** A holder that took less than this since the last check (a tick) does not use its slot. */
const IDLE_BYTES = 64 * 1024;

export class SeedChoker {
  private readonly unchoked = new Map<ChokerWire, Slot>();
  private readonly waiting: ChokerWire[] = [];
  private readonly grant = new Map<ChokerWire, () => void>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly opts: ChokerOptions,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    if (!(opts.slots >= 1)) throw new Error(`seed upload slots: ${opts.slots} is not 1 or more`);
  }

  /** Takes over the choking of `torrent`'s wires; call before it gets peers. */
  attach(torrent: ChokerTorrent): void {
    torrent._rechoke = () => this.rotate();
    torrent.on("wire", (wire) => this.add(wire));
    this.timer = setInterval(() => this.rotate(), this.tickMs());
    this.timer.unref();
  }

  private tickMs(): number {
    return Math.max(100, Math.floor(this.opts.maxHoldMs / 4));
  }

  /** Stops rotating and lets go of every wire (the torrent is removed or the seeder stops). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.unchoked.clear();
    this.waiting.length = 0;
    this.grant.clear();
  }

  /** Peers holding a slot, and peers waiting for one (for tests and logs). */
  counts(): { unchoked: number; waiting: number } {
    return { unchoked: this.unchoked.size, waiting: this.waiting.length };
  }

  /** Wires the choker still holds on to: the peers that are connected now, no more. */
  tracked(): number {
    return this.grant.size;
  }

  add(wire: ChokerWire): void {
    const unchoke = wire.unchoke.bind(wire);
    this.grant.set(wire, unchoke);
    // webtorrent calls unchoke() when the peer gets interested: that becomes a slot request.
    wire.unchoke = () => {
      if (this.unchoked.has(wire)) unchoke();
      else this.request(wire);
    };
    wire.on("interested", () => this.request(wire));
    wire.on("uninterested", () => this.release(wire, false));
    // A closed wire is gone for good: forget it, or a long-lived seed holds every peer it
    // ever had (and the wire's buffers) through the bound unchoke.
    wire.on("close", () => {
      this.release(wire, false);
      this.grant.delete(wire);
    });
  }

  private request(wire: ChokerWire): void {
    if (!this.grant.has(wire)) return;
    if (wire.destroyed || !wire.peerInterested || this.unchoked.has(wire)) return;
    if (this.unchoked.size < this.opts.slots) this.give(wire);
    else if (!this.waiting.includes(wire)) this.waiting.push(wire);
  }

  private give(wire: ChokerWire): void {
    const i = this.waiting.indexOf(wire);
    if (i >= 0) this.waiting.splice(i, 1);
    this.unchoked.set(wire, {
      since: this.now(),
      uploadedAtCheck: wire.uploaded,
    });
    try {
      this.grant.get(wire)?.();
    } catch (err) {
      this.log.debug("unchoke failed", { error: String(err) });
      this.unchoked.delete(wire);
    }
  }

  /** Frees `wire`'s slot (and queue place); with `requeue`, it waits for another turn. */
  private release(wire: ChokerWire, requeue: boolean): void {
    const held = this.unchoked.delete(wire);
    const i = this.waiting.indexOf(wire);
    if (i >= 0) this.waiting.splice(i, 1);
    if (held && !wire.destroyed) {
      try {
        wire.choke();
      } catch (err) {
        this.log.debug("choke failed", { error: String(err) });
      }
    }
    if (requeue && !wire.destroyed && wire.peerInterested) this.waiting.push(wire);
    this.fill();
  }

  private fill(): void {
    while (this.unchoked.size < this.opts.slots && this.waiting.length > 0) {
      const next = this.waiting.shift()!;
      if (!next.destroyed && next.peerInterested) this.give(next);
    }
  }

  /** Ends the turns that are used up while others wait. */
  rotate(): void {
    const now = this.now();
    for (const [wire, slot] of [...this.unchoked]) {
      if (wire.destroyed || !wire.peerInterested) {
        this.release(wire, false);
        continue;
      }
      const sinceCheck = wire.uploaded - slot.uploadedAtCheck;
      slot.uploadedAtCheck = wire.uploaded;
      if (this.waiting.length === 0) continue;
      const idle = now - slot.since >= this.tickMs() && sinceCheck < IDLE_BYTES;
      if (idle || now - slot.since >= this.opts.maxHoldMs) this.release(wire, true);
    }
    this.fill();
  }
}
