// Who gets an upload slot: the choking side of the engine.
//
// Two policies, one per role (test/common/swarm/choker.test.ts):
// - download (a peer still fetching): at each rechoke (`tick`, every `rechokeMs`) the
//   `slots - optimistic` interested peers that sent us the most since the last tick keep or get
//   a slot (tit-for-tat: upload goes to those who upload back; ties by seeded random), and one
//   optimistic slot goes to a random choked interested peer, moved every `optimisticMs`, so a
//   newcomer with nothing to trade yet gets its first pieces and may turn out faster.
// - seed (a complete peer, or the master's seed): nobody uploads back, so rate means nothing;
//   slots rotate round-robin so that the seed's pieces spread over many peers instead of
//   feeding the fastest few: a holder keeps its slot at most `maxTurnMs` while others wait,
//   and gives it up at the first tick at which it took under `idleBytes` since the last one
//   (it gets its pieces elsewhere). Ending a turn on a byte quantum instead was measured worse
//   (docs/benchmarks.md): choking mid-piece wastes the blocks in flight.
// Between ticks a slot that frees (its peer lost interest or left) is filled at once: the
// engine reports `interested`, `left` and `transferred`, and sends the chokes and unchokes of
// each returned decision.
import { SeededRandom } from "../seeded-random.js";

export type ChokerRole = "download" | "seed";

export interface ChokerInit {
  role: ChokerRole;
  seed: number;
  /** Upload slots (default 4). */
  slots?: number;
  /** Of which optimistic, in the download role (default 1). */
  optimistic?: number;
  /** Rechoke period (default 10 s); the engine calls `tick` at this pace. */
  rechokeMs?: number;
  /** Optimistic unchoke rotation (default 30 s). */
  optimisticMs?: number;
  /** Seed role: longest turn while others wait (default 10 s). */
  maxTurnMs?: number;
  /** Seed role: a holder that took less than this in a tick gives its slot up (default 64 KiB). */
  idleBytes?: number;
}

export interface ChokeDecision<P> {
  unchoke: P[];
  choke: P[];
}

interface PeerState {
  interested: boolean;
  unchoked: boolean;
  /** Bytes since the last tick: received from it (download role) or sent to it (seed role). */
  bytes: number;
  /** Rate measured at the last tick, bytes per second. */
  rate: number;
  /** Seed role: when its turn began; download role: when it was unchoked. */
  since: number;
  /** Seed role: when it started waiting, for round-robin. */
  waitingSince: number;
}

export class Choker<P> {
  private readonly peers = new Map<P, PeerState>();
  private readonly random: SeededRandom;
  private readonly slots: number;
  private optimisticSlots: number;
  private currentRole: ChokerRole;
  private readonly optimisticMs: number;
  private readonly maxTurnMs: number;
  private readonly idleBytes: number;
  private optimisticPeer: P | undefined;
  private optimisticSince = Number.NEGATIVE_INFINITY;
  private lastTick: number | undefined;
  private unchokedN = 0;

  constructor(readonly init: ChokerInit) {
    this.random = new SeededRandom(init.seed);
    this.currentRole = init.role;
    this.slots = init.slots ?? 4;
    if (!(this.slots >= 1)) throw new RangeError(`upload slots: ${this.slots} is not 1 or more`);
    this.optimisticSlots = init.role === "download" ? Math.min(init.optimistic ?? 1, this.slots) : 0;
    this.optimisticMs = init.optimisticMs ?? 30_000;
    this.maxTurnMs = init.maxTurnMs ?? 10_000;
    this.idleBytes = init.idleBytes ?? 64 * 1024;
  }

  /** The role now: a downloader that completes becomes a seed (`becomeSeed`). */
  role(): ChokerRole {
    return this.currentRole;
  }

  /** The download is complete: from now on slots rotate (no rate to reward any more). */
  becomeSeed(now: number): void {
    this.currentRole = "seed";
    this.optimisticSlots = 0;
    this.optimisticPeer = undefined;
    for (const s of this.peers.values()) if (s.unchoked) s.since = now;
  }

  isUnchoked(peer: P): boolean {
    return this.peers.get(peer)?.unchoked ?? false;
  }

  unchokedCount(): number {
    return this.unchokedN;
  }

  joined(peer: P, now: number): void {
    if (this.peers.has(peer)) return;
    this.peers.set(peer, {
      interested: false,
      unchoked: false,
      bytes: 0,
      rate: 0,
      since: now,
      waitingSince: now,
    });
  }

  /** The peer is gone; its slot goes to another at once. */
  left(peer: P, now: number): ChokeDecision<P> {
    const s = this.peers.get(peer);
    if (s) this.setUnchoked(s, false);
    this.peers.delete(peer);
    if (this.optimisticPeer === peer) this.optimisticPeer = undefined;
    return this.fill(now, { unchoke: [], choke: [] });
  }

  /** Payload bytes exchanged with `peer` (see PeerState.bytes for which direction counts). */
  transferred(peer: P, bytes: number): void {
    const s = this.peers.get(peer);
    if (s) s.bytes += bytes;
  }

  /** The peer said interested / not interested. */
  interested(peer: P, yes: boolean, now: number): ChokeDecision<P> {
    const s = this.peers.get(peer);
    const d: ChokeDecision<P> = { unchoke: [], choke: [] };
    if (!s || s.interested === yes) return d;
    s.interested = yes;
    if (yes) s.waitingSince = now;
    else if (s.unchoked) {
      // A peer that wants nothing does not hold a slot another one could use.
      this.setUnchoked(s, false);
      d.choke.push(peer);
      if (this.optimisticPeer === peer) this.optimisticPeer = undefined;
    }
    return this.fill(now, d);
  }

  /** The periodic rechoke. */
  tick(now: number): ChokeDecision<P> {
    const elapsed = this.lastTick === undefined ? 0 : (now - this.lastTick) / 1000;
    this.lastTick = now;
    for (const s of this.peers.values()) {
      s.rate = elapsed > 0 ? s.bytes / elapsed : s.bytes;
    }
    const d = this.currentRole === "seed" ? this.rotate(now) : this.titForTat(now);
    for (const s of this.peers.values()) s.bytes = 0;
    return d;
  }

  private titForTat(now: number): ChokeDecision<P> {
    const interested = [...this.peers].filter(([, s]) => s.interested);
    this.random.shuffle(interested);
    interested.sort(([, a], [, b]) => b.rate - a.rate);
    const keep = new Set<P>(interested.slice(0, this.slots - this.optimisticSlots).map(([p]) => p));
    if (this.optimisticSlots > 0) {
      const current = this.optimisticPeer;
      const stale = now - this.optimisticSince >= this.optimisticMs;
      if (current !== undefined && !keep.has(current) && !stale && this.peers.get(current)?.interested) {
        keep.add(current);
      } else {
        const choked = interested.filter(([p]) => !keep.has(p));
        const pick = choked.length > 0 ? choked[this.random.below(choked.length)]![0] : undefined;
        this.optimisticPeer = pick;
        this.optimisticSince = now;
        if (pick !== undefined) keep.add(pick);
      }
    }
    return this.apply(keep, now);
  }

  private rotate(now: number): ChokeDecision<P> {
    const waiting = [...this.peers].filter(([, s]) => s.interested && !s.unchoked).length;
    const d: ChokeDecision<P> = { unchoke: [], choke: [] };
    if (waiting > 0) {
      for (const [p, s] of this.peers) {
        if (!s.unchoked) continue;
        const turn = now - s.since;
        const idle = s.bytes < this.idleBytes && turn > 0;
        if (turn >= this.maxTurnMs || idle) {
          this.setUnchoked(s, false);
          s.waitingSince = now;
          d.choke.push(p);
        }
      }
    }
    return this.fill(now, d);
  }

  /** Gives free slots to interested choked peers: fastest first (download), longest waiting (seed). */
  private fill(now: number, d: ChokeDecision<P>): ChokeDecision<P> {
    let free = this.slots - this.unchokedN;
    while (free > 0) {
      // One pass per free slot (usually one): the best candidate, ties by reservoir sampling.
      // Peers choked in this same decision come last: they just had their turn.
      let best: P | undefined;
      let bestState: PeerState | undefined;
      let bestAgain = true;
      let ties = 0;
      for (const [p, st] of this.peers) {
        if (!st.interested || st.unchoked) continue;
        const again = d.choke.includes(p);
        let cmp: number;
        if (bestState === undefined) cmp = -1;
        else if (again !== bestAgain) cmp = again ? 1 : -1;
        else if (this.currentRole === "seed") cmp = st.waitingSince - bestState.waitingSince;
        else cmp = bestState.rate - st.rate;
        if (cmp < 0) {
          best = p;
          bestState = st;
          bestAgain = again;
          ties = 1;
        } else if (cmp === 0 && this.random.below(++ties) === 0) {
          best = p;
          bestState = st;
        }
      }
      if (bestState === undefined) break;
      this.setUnchoked(bestState, true);
      bestState.since = now;
      free--;
      const i = d.choke.indexOf(best as P);
      if (i >= 0) d.choke.splice(i, 1);
      else d.unchoke.push(best as P);
    }
    return d;
  }

  private setUnchoked(s: PeerState, yes: boolean): void {
    if (s.unchoked !== yes) this.unchokedN += yes ? 1 : -1;
    s.unchoked = yes;
  }

  private apply(keep: Set<P>, now: number): ChokeDecision<P> {
    const d: ChokeDecision<P> = { unchoke: [], choke: [] };
    for (const [p, s] of this.peers) {
      const want = keep.has(p);
      if (want === s.unchoked) continue;
      this.setUnchoked(s, want);
      if (want) {
        s.since = now;
        d.unchoke.push(p);
      } else d.choke.push(p);
    }
    return this.fill(now, d);
  }
}
