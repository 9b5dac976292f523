// Calls that go to whichever master leads: one gRPC client per master address (made when
// first dialled), and a unary call that follows redirects and tries each master once per
// round (leader-follower.ts). Shared by the SDK and yardctl; the agent's stream uses the
// follower directly.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { isServiceError } from "./errors.js";
import type { LeaderFollower } from "./leader-follower.js";
import { leaderHint } from "./leader-redirect.js";

/**
 * Whether a failed call says "try another master": a not-the-leader answer, or a master that
 * could not be reached (UNAVAILABLE) or did not answer in time (DEADLINE_EXCEEDED). Any other
 * answer came from a master that leads, and is the call's answer.
 */
export function triesAnotherMaster(err: unknown): boolean {
  if (leaderHint(err).notLeader) return true;
  return (
    isServiceError(err) && (err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED)
  );
}

/** One client per address, made on first use; closeAll() closes every channel. */
export class ClientPool<C extends { close(): void }> {
  private readonly clients = new Map<string, C>();

  constructor(private readonly create: (address: string) => C) {}

  get(address: string): C {
    let client = this.clients.get(address);
    if (!client) {
      client = this.create(address);
      this.clients.set(address, client);
    }
    return client;
  }

  closeAll(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

export interface LeaderCallOptions {
  /**
   * How long to keep looking for a leader while masters answer that none leads (an election
   * under way). Masters that cannot be reached at all end the call after one round.
   */
  deadlineMs: number;
  /** First pause between rounds (doubling to 1 s), default 100 ms. */
  roundDelayMs?: number;
}

/**
 * Runs `attempt` against the follower's master until one answers as the leader: a redirect
 * is followed at once, an unreachable master or a standby moves on to the next. Resolves with
 * the leader's answer, or rejects with it (a refusal of the leader is final). Rejects with the
 * last failure after a round in which no master answered (all unreachable), or when the
 * deadline passes with masters answering that none leads.
 */
export async function callLeader<T>(
  follower: LeaderFollower,
  attempt: (address: string) => Promise<T>,
  opts: LeaderCallOptions,
): Promise<T> {
  const deadline = Date.now() + opts.deadlineMs;
  let roundDelay = opts.roundDelayMs ?? 100;
  let answeredInRound = false;
  for (;;) {
    const at = follower.address();
    try {
      const res = await attempt(at);
      follower.succeeded(at);
      return res;
    } catch (err) {
      if (!triesAnotherMaster(err)) {
        follower.succeeded(at);
        throw err;
      }
      if (leaderHint(err).notLeader) answeredInRound = true;
      const step = follower.failed(err, at);
      if (!step.roundFailed) continue;
      if (!answeredInRound || Date.now() + roundDelay >= deadline) throw err;
      answeredInRound = false;
      await new Promise((r) => setTimeout(r, roundDelay));
      roundDelay = Math.min(1_000, roundDelay * 2);
    }
  }
}
