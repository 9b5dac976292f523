// A discrete-event model of one release going to a swarm, that runs the engine's own pure core
// (common/swarm/: piece picker, super-seeder, choker, request pipeline) with no sockets.
//
// The model: one seed (the master) and N hosts, all behind one switch. Each host has an
// upload and a download link with their rates and a one-way latency to the switch. Messages
// (have, interested, choke, request, …) arrive after the latency of both ends. Blocks are
// sent whole at the sender's upload rate, one at a time from a FIFO of the requests it
// accepted (per host, over all its peers), and cross the receiver's download link as they are
// sent (cut-through: a block takes longer only when the download link is busy with another).
// At t = 0 the seed is on the tracker and every host announces at a random moment within
// `announceSpreadMs`, gets a random subset of up to `peersPerAnnounce` of the peers announced
// so far, and connects to those that have room (`maxPeers` connections each).
// A piece is announced (have) the moment its last block arrives (hashing is not modelled), and
// served from then on. Requests are not lost, so the pipeline's timeouts never fire here.
import { Bitfield } from "../../common/swarm/bitfield.js";
import { Choker, type ChokeDecision } from "../../common/swarm/choker.js";
import { type BlockRequest, PiecePicker } from "../../common/swarm/piece-picker.js";
import { RequestPipeline, requestBudget } from "../../common/swarm/request-pipeline.js";
import { SeededRandom } from "../../common/seeded-random.js";
import { SuperSeeder } from "../../common/swarm/super-seeder.js";
import { EventQueue } from "./event-queue.js";

export interface SimConfig {
  /** Hosts that fetch the release (the seed is extra). */
  hosts: number;
  sizeBytes: number;
  pieceLength: number;
  /** Upload and download rate of every host's link, bytes/s. */
  linkBytesPerSecond: number;
  /** The seed's upload rate, bytes/s. */
  seedBytesPerSecond: number;
  /** One-way latency from a host to the switch, ms. */
  latencyMs: number;
  /** Block size between peers (Yard peers: the whole piece). */
  blockBytes: number;
  seed: number;
  peersPerAnnounce?: number;
  maxPeers?: number;
  announceSpreadMs?: number;
  uploadSlots?: number;
  seedSlots?: number;
  /** BEP 16 at the seed (default true); false: the seed sends its bitfield and serves anything. */
  superSeed?: boolean;
  rechokeMs?: number;
  /**
   * A CPU shared by all hosts, as on a testbed whose hosts are processes of one machine:
   * `cores` cores, and every block costs `secondsPerByte` of one core at its receiver (the
   * sender's share, hashing and the kernel's copies included). Without it each host has a CPU
   * of its own that costs nothing.
   */
  sharedCpu?: { cores: number; secondsPerByte: number };
}

export interface SimResult {
  /** When each host held the whole release, ms, in host order. */
  doneAt: number[];
  /** Bytes the seed uploaded, and the hosts in all. */
  seedUploaded: number;
  hostsUploaded: number;
  /** Blocks that arrived twice (endgame) and were thrown away. */
  wastedBlocks: number;
  events: number;
  meanPeers: number;
}

type Msg =
  | { k: "connect"; a: number; b: number }
  | { k: "have"; from: number; to: number; piece: number }
  | { k: "haveAll"; from: number; piece: number }
  | { k: "bitfield"; from: number; to: number; bits: Bitfield }
  | { k: "interested"; from: number; to: number; yes: boolean }
  | { k: "choke"; from: number; to: number; yes: boolean; dropped: BlockRequest[] }
  | { k: "request"; from: number; to: number; req: BlockRequest }
  | { k: "cancel"; from: number; to: number; req: BlockRequest }
  | { k: "reject"; from: number; to: number; req: BlockRequest }
  | { k: "sent"; from: number; to: number; req: BlockRequest; start: number }
  | { k: "block"; from: number; to: number; req: BlockRequest }
  | { k: "announce"; host: number }
  | { k: "tick"; host: number };

interface Conn {
  /** We are interested in the peer / the peer chokes us: our view as a downloader. */
  amInterested: boolean;
  peerChoking: boolean;
  pipeline: RequestPipeline;
}

interface Upload {
  to: number;
  req: BlockRequest;
}

class Host {
  readonly conns = new Map<number, Conn>();
  readonly queue: Upload[] = [];
  busy = false;
  downFree = 0;
  /** Requests in flight over all connections, against `budget` (request-pipeline.ts). */
  inFlight = 0;
  uploaded = 0;
  doneAt = -1;
  picker?: PiecePicker<number>;
  superSeeder?: SuperSeeder<number>;
  constructor(
    readonly id: number,
    readonly have: Bitfield,
    readonly upRate: number,
    readonly downRate: number,
    readonly choker: Choker<number>,
  ) {}
}

export function simulate(cfg: SimConfig): SimResult {
  const q = new EventQueue<Msg>();
  const random = new SeededRandom(cfg.seed);
  const pieceCount = Math.ceil(cfg.sizeBytes / cfg.pieceLength);
  const peersPerAnnounce = cfg.peersPerAnnounce ?? 50;
  const maxPeers = cfg.maxPeers ?? 55;
  const rechokeMs = cfg.rechokeMs ?? 10_000;
  const superSeed = cfg.superSeed ?? true;
  const hop = 2 * cfg.latencyMs;
  const link = cfg.linkBytesPerSecond / 1000; // bytes per ms
  let events = 0;
  let wasted = 0;
  let remaining = cfg.hosts;

  const hosts: Host[] = [];
  const seed = new Host(
    0,
    Bitfield.full(pieceCount),
    cfg.seedBytesPerSecond / 1000,
    link,
    new Choker<number>({ role: "seed", seed: cfg.seed, slots: cfg.seedSlots ?? 4 }),
  );
  if (superSeed) seed.superSeeder = new SuperSeeder<number>({ pieceCount, seed: cfg.seed });
  seed.doneAt = 0;
  hosts.push(seed);
  for (let i = 1; i <= cfg.hosts; i++) {
    const picker = new PiecePicker<number>({
      totalLength: cfg.sizeBytes,
      pieceLength: cfg.pieceLength,
      chunkBytes: Math.min(cfg.blockBytes, cfg.pieceLength),
      seed: cfg.seed * 7919 + i,
    });
    const choker = new Choker<number>({
      role: "download",
      seed: cfg.seed * 104729 + i,
      slots: cfg.uploadSlots ?? 4,
      rechokeMs,
    });
    const h = new Host(i, picker.have, link, link, choker);
    h.picker = picker;
    hosts.push(h);
  }

  const send = (m: Msg) => q.after(hop, m);

  // The shared CPU: each core is free from a moment on; a block's work starts when its bytes
  // start to arrive, on the core free first, and runs whole (first come, first served).
  const coreFree = new Float64Array(cfg.sharedCpu?.cores ?? 0);
  const cpuMsPerByte = (cfg.sharedCpu?.secondsPerByte ?? 0) * 1000;
  const cpuDone = (arrivalStart: number, bytes: number): number => {
    if (coreFree.length === 0) return 0;
    let core = 0;
    for (let i = 1; i < coreFree.length; i++) if (coreFree[i]! < coreFree[core]!) core = i;
    const done = Math.max(arrivalStart, coreFree[core]!) + bytes * cpuMsPerByte;
    coreFree[core] = done;
    return done;
  };

  const applyChokes = (h: Host, d: ChokeDecision<number>) => {
    for (const p of d.unchoke) send({ k: "choke", from: h.id, to: p, yes: false, dropped: [] });
    for (const p of d.choke) {
      // Requests not yet started are dropped, and the peer told which (fast extension: reject).
      const dropped: BlockRequest[] = [];
      for (let i = h.queue.length - 1; i >= 0; i--) {
        if (h.queue[i]!.to === p) dropped.push(h.queue.splice(i, 1)[0]!.req);
      }
      send({ k: "choke", from: h.id, to: p, yes: true, dropped });
    }
  };

  const pump = (h: Host) => {
    if (h.busy) return;
    const u = h.queue.shift();
    if (!u) return;
    h.busy = true;
    q.after(u.req.length / h.upRate, { k: "sent", from: h.id, to: u.to, req: u.req, start: q.now });
  };

  const budget = requestBudget(cfg.linkBytesPerSecond, Math.min(cfg.blockBytes, cfg.pieceLength));
  /** Fills `peer`'s pipeline on host `h` (h downloads from peer), within the host's budget. */
  const fill = (h: Host, peer: number) => {
    const c = h.conns.get(peer);
    if (!c || !h.picker || c.peerChoking || !c.amInterested) return;
    const room = Math.min(c.pipeline.room(), budget - h.inFlight);
    if (room <= 0) return;
    for (const req of h.picker.pick(peer, room, c.pipeline.blockBytes)) {
      c.pipeline.sent();
      h.inFlight++;
      send({ k: "request", from: h.id, to: peer, req });
    }
  };
  const fillAll = (h: Host) => {
    for (const peer of h.conns.keys()) {
      if (h.inFlight >= budget) return;
      fill(h, peer);
    }
  };
  const settled = (h: Host, c: Conn) => {
    c.pipeline.dropped();
    h.inFlight--;
  };

  const setInterest = (h: Host, peer: number, yes: boolean) => {
    const c = h.conns.get(peer);
    if (!c || c.amInterested === yes) return;
    c.amInterested = yes;
    send({ k: "interested", from: h.id, to: peer, yes });
  };

  const offer = (s: Host, peer: number) => {
    const piece = s.superSeeder!.offer(peer, q.now);
    if (piece !== undefined) send({ k: "have", from: s.id, to: peer, piece });
  };

  const connect = (a: Host, b: Host) => {
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      x.conns.set(y.id, {
        amInterested: false,
        peerChoking: true,
        pipeline: new RequestPipeline({
          blockBytes: Math.min(cfg.blockBytes, cfg.pieceLength),
          initialRttMs: 2 * hop,
        }),
      });
      x.choker.joined(y.id, q.now);
      x.picker?.addPeer(y.id);
      x.superSeeder?.addPeer(y.id);
      if (x.superSeeder) offer(x, y.id);
      else if (x.have.count() > 0) send({ k: "bitfield", from: x.id, to: y.id, bits: x.have });
    }
  };

  const announced: number[] = [0];
  for (let i = 1; i <= cfg.hosts; i++) {
    q.at(random.next() * (cfg.announceSpreadMs ?? 1000), { k: "announce", host: i });
  }
  for (const h of hosts) q.at(random.next() * rechokeMs, { k: "tick", host: h.id });

  const pieceDone = (h: Host, piece: number) => {
    for (const p of h.picker!.verified(piece)) setInterest(h, p, false);
    // Announced at once, and served from now on.
    q.after(hop, { k: "haveAll", from: h.id, piece });
    if (h.picker!.complete()) {
      h.doneAt = q.now;
      remaining--;
      h.choker.becomeSeed(q.now);
    }
  };

  for (let m = q.pop(); m !== undefined && remaining > 0; m = q.pop()) {
    events++;
    switch (m.k) {
      case "announce": {
        const h = hosts[m.host]!;
        const picked = new Set<number>();
        const want = Math.min(peersPerAnnounce, announced.length);
        while (picked.size < want) picked.add(announced[random.below(announced.length)]!);
        announced.push(h.id);
        for (const id of picked) q.after(hop, { k: "connect", a: h.id, b: id });
        break;
      }
      case "connect": {
        const a = hosts[m.a]!;
        const b = hosts[m.b]!;
        if (a.conns.has(b.id) || a.conns.size >= maxPeers || b.conns.size >= maxPeers) break;
        connect(a, b);
        break;
      }
      case "bitfield": {
        const h = hosts[m.to]!;
        if (!h.conns.has(m.from)) break;
        if (h.picker) {
          h.picker.removePeer(m.from);
          if (h.picker.addPeer(m.from, m.bits)) setInterest(h, m.from, true);
        }
        h.superSeeder?.addPeer(m.from, m.bits);
        break;
      }
      case "have":
        receiveHave(hosts[m.to]!, m.from, m.piece);
        break;
      case "haveAll": {
        const h = hosts[m.from]!;
        for (const peer of h.conns.keys()) receiveHave(hosts[peer]!, h.id, m.piece);
        break;
      }
      case "interested": {
        const h = hosts[m.to]!;
        if (h.conns.has(m.from)) applyChokes(h, h.choker.interested(m.from, m.yes, q.now));
        break;
      }
      case "choke": {
        const h = hosts[m.to]!;
        const c = h.conns.get(m.from);
        if (!c) break;
        c.peerChoking = m.yes;
        for (const req of m.dropped) {
          settled(h, c);
          h.picker?.released(m.from, req);
        }
        if (m.yes) {
          if (m.dropped.length > 0) fillAll(h);
        } else fill(h, m.from);
        break;
      }
      case "request": {
        const h = hosts[m.to]!;
        const ok =
          h.conns.has(m.from) &&
          h.choker.isUnchoked(m.from) &&
          h.have.has(m.req.piece) &&
          (!h.superSeeder || h.superSeeder.mayServe(m.from, m.req.piece));
        if (!ok) send({ k: "reject", from: h.id, to: m.from, req: m.req });
        else {
          h.queue.push({ to: m.from, req: m.req });
          pump(h);
        }
        break;
      }
      case "reject": {
        const h = hosts[m.to]!;
        const c = h.conns.get(m.from);
        if (!c) break;
        settled(h, c);
        h.picker?.released(m.from, m.req);
        fillAll(h);
        break;
      }
      case "cancel": {
        const h = hosts[m.to]!;
        const i = h.queue.findIndex(
          (u) => u.to === m.from && u.req.piece === m.req.piece && u.req.begin === m.req.begin,
        );
        if (i >= 0) h.queue.splice(i, 1);
        break;
      }
      case "sent": {
        const h = hosts[m.from]!;
        h.busy = false;
        h.uploaded += m.req.length;
        if (h.choker.role() === "seed") h.choker.transferred(m.to, m.req.length);
        if (h.superSeeder && m.req.begin + m.req.length >= pieceBytes(m.req.piece)) {
          h.superSeeder.sent(m.to, m.req.piece, q.now);
        }
        // The block crosses the receiver's download link as it is sent (cut-through), later
        // only when that link is busy with another block.
        const r = hosts[m.to]!;
        const start = Math.max(m.start + hop, r.downFree);
        const end = Math.max(start + m.req.length / r.downRate, q.now + hop);
        r.downFree = end;
        q.at(Math.max(end, cpuDone(start, m.req.length)), { k: "block", from: h.id, to: r.id, req: m.req });
        pump(h);
        break;
      }
      case "block": {
        const h = hosts[m.to]!;
        const c = h.conns.get(m.from);
        if (!c || !h.picker) break;
        c.pipeline.answered(m.req.length, q.now);
        h.inFlight--;
        if (h.choker.role() === "download") h.choker.transferred(m.from, m.req.length);
        const got = h.picker.received(m.from, m.req);
        if (!got.useful) {
          // A duplicate whose cancel came too late: its in-flight count was settled then.
          h.inFlight++;
          wasted++;
          fill(h, m.from);
          break;
        }
        for (const x of got.cancels) {
          const other = h.conns.get(x.peer);
          if (other) settled(h, other);
          send({ k: "cancel", from: h.id, to: x.peer, req: x.request });
        }
        if (got.pieceComplete) pieceDone(h, m.req.piece);
        fill(h, m.from);
        fillAll(h);
        break;
      }
      case "tick": {
        const h = hosts[m.host]!;
        applyChokes(h, h.choker.tick(q.now));
        if (h.superSeeder) for (const peer of h.conns.keys()) offer(h, peer);
        q.after(rechokeMs, m);
        break;
      }
    }
  }

  function pieceBytes(piece: number): number {
    return Math.min(cfg.pieceLength, cfg.sizeBytes - piece * cfg.pieceLength);
  }

  function receiveHave(h: Host, from: number, piece: number) {
    if (!h.conns.has(from)) return;
    if (h.superSeeder) {
      for (const freed of h.superSeeder.peerHave(from, piece)) offer(h, freed);
      return;
    }
    if (!h.picker || h.picker.complete()) return;
    if (h.picker.peerHave(from, piece)) setInterest(h, from, true);
    else if (!h.have.has(piece)) fill(h, from);
  }

  if (remaining > 0) throw new Error(`${remaining} hosts never completed: the swarm stalled at ${q.now} ms`);
  let degree = 0;
  let hostsUploaded = 0;
  for (const h of hosts.slice(1)) {
    degree += h.conns.size;
    hostsUploaded += h.uploaded;
  }
  return {
    doneAt: hosts.slice(1).map((h) => h.doneAt),
    seedUploaded: seed.uploaded,
    hostsUploaded,
    wastedBlocks: wasted,
    events,
    meanPeers: degree / cfg.hosts,
  };
}
