// Notices that the leader's process has died sooner than its lease can say so.
//
// The lease of a killed leader expires a whole TTL after its last keepalive: a process that
// crashed, was OOM-killed or SIGKILLed leaves the cluster without a leader for that long. But
// a dead process's host answers for it: the kernel closes the process's connections and
// refuses new ones to its port. So each standby keeps one idle TCP connection to the leader's
// gRPC port. When that connection is closed by the other end, it connects again: a refusal
// (ECONNREFUSED: the host is up, nothing listens on the port) means the leader's process is
// gone, and the standby revokes the leader's lease at once; the election then proceeds as if
// the lease had expired. Anything else (the connection taken again, a timeout, an unreachable
// host) changes nothing and the lease decides, as before: a frozen process or a dead or
// partitioned host keeps its connections open or answers nothing.
//
// Revoking is safe whatever the verdict: the leader's writes are fenced by its lease's key, so
// a leader deposed by mistake cannot write; it notices the lost lease, stops serving and
// stands again. A mistake costs a failover, never a split brain.
import net from "node:net";
import type { Logger } from "../../common/logger.js";

/** The leader as the election shows it. */
export interface WatchedLeader {
  id: string;
  /** host:port of its gRPC server. */
  address: string;
  /** The etcd lease its candidate key is bound to (decimal string). */
  lease: string;
}

export interface LeaderProcessWatchInit {
  /** The current leader, or undefined when none stands or this master leads. */
  leader: () => WatchedLeader | undefined;
  /** Revokes a lease in etcd. */
  revoke: (lease: string) => Promise<void>;
  logger: Logger;
  /** How long a probe connection may take before it counts as "no answer" (not as gone). */
  probeTimeoutMs?: number;
}

/** What a fresh connection to the leader's port found. */
export type ProbeResult = "listening" | "refused" | "no-answer";

export function classifyConnectError(err: NodeJS.ErrnoException): ProbeResult {
  return err.code === "ECONNREFUSED" ? "refused" : "no-answer";
}

export class LeaderProcessWatch {
  #watched?: WatchedLeader;
  #socket?: net.Socket;
  #stopped = false;
  readonly #probeTimeoutMs: number;

  constructor(private readonly init: LeaderProcessWatchInit) {
    this.#probeTimeoutMs = init.probeTimeoutMs ?? 2_000;
  }

  /** Call whenever the election may have changed: watches the leader of the moment. */
  update(): void {
    if (this.#stopped) return;
    const leader = this.init.leader();
    if (leader && this.#watched && same(leader, this.#watched)) return;
    this.#drop();
    this.#watched = leader;
    if (leader) this.#connect(leader);
  }

  stop(): void {
    this.#stopped = true;
    this.#drop();
  }

  #drop(): void {
    const s = this.#socket;
    this.#socket = undefined;
    s?.removeAllListeners();
    s?.on("error", () => undefined);
    s?.destroy();
  }

  #connect(leader: WatchedLeader): void {
    this.#probe(leader, (result, socket) => {
      if (!this.#current(leader)) return socket?.destroy();
      if (result === "listening") return this.#hold(leader, socket!);
      if (result === "refused") return this.#gone(leader);
      // No answer: the host or the network, which the lease is there for. Look again later.
      setTimeout(() => this.#current(leader) && this.#connect(leader), this.#probeTimeoutMs).unref();
    });
  }

  /** Keeps the connection until the other end closes it, then looks again. */
  #hold(leader: WatchedLeader, socket: net.Socket): void {
    this.#socket = socket;
    socket.on("error", () => undefined); // a reset ends in "close" too
    socket.on("data", () => undefined); // whatever the server says (nothing, or a TLS alert)
    socket.once("close", () => {
      if (this.#socket !== socket) return;
      this.#socket = undefined;
      if (this.#current(leader)) this.#connect(leader);
    });
  }

  #gone(leader: WatchedLeader): void {
    this.init.logger.warn("the leader's process is gone (its port refuses connections): revoking its lease", {
      leader: leader.id,
      address: leader.address,
    });
    this.init.revoke(leader.lease).catch((err) => {
      // Already expired or revoked by another standby: the election goes on either way.
      this.init.logger.debug("revoking the dead leader's lease failed", { err });
    });
  }

  #current(leader: WatchedLeader): boolean {
    return !this.#stopped && this.#watched !== undefined && same(this.#watched, leader);
  }

  #probe(leader: WatchedLeader, done: (r: ProbeResult, socket?: net.Socket) => void): void {
    const { host, port } = splitAddress(leader.address);
    const socket = net.connect({ host, port });
    socket.unref();
    const timer = setTimeout(() => finish("no-answer"), this.#probeTimeoutMs);
    timer.unref();
    let settled = false;
    function finish(r: ProbeResult, err?: NodeJS.ErrnoException) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners("connect");
      if (r !== "listening") {
        socket.on("error", () => undefined);
        socket.destroy();
        return done(err ? classifyConnectError(err) : r);
      }
      done(r, socket);
    }
    socket.once("connect", () => finish("listening"));
    socket.once("error", (err: NodeJS.ErrnoException) => finish("no-answer", err));
  }
}

function same(a: WatchedLeader, b: WatchedLeader): boolean {
  return a.id === b.id && a.address === b.address && a.lease === b.lease;
}

function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ""), port: Number(address.slice(i + 1)) };
}
