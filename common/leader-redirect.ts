// How a master that does not lead says so, and how its callers learn where to go instead.
// A standby answers every call with UNAVAILABLE, details that name the leader for a human, and
// the leader's gRPC address in the `yard-leader` metadata for a program (the agent, the SDK
// and yardctl follow it at once, without backing off). docs/ha.md describes the protocol.
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { isServiceError } from "./errors.js";

/** Metadata key (trailers of a failed call) holding the leader's host:port; absent if unknown. */
export const LEADER_METADATA_KEY = "yard-leader";

/** The prefix of a not-the-leader answer's details; a client tells it from other UNAVAILABLEs by it. */
export const NOT_LEADER = "not the leader";

/**
 * The status a standby answers with; `leader` is the leader's host:port, or undefined when none
 * is elected. `what` names the standby for a human: a master, or an instance of a framework
 * run as several (framework-sdk/framework-leader.ts), whose API redirects the same way.
 */
export function notLeaderError(leader: string | undefined, what = "master"): Partial<ServiceError> {
  const metadata = new Metadata();
  if (leader) metadata.set(LEADER_METADATA_KEY, leader);
  const details = leader
    ? `${NOT_LEADER}: this ${what} is a standby; the leader is ${leader}`
    : `${NOT_LEADER}: this ${what} is a standby and no leader is elected yet; retry`;
  return { code: GrpcStatus.UNAVAILABLE, details, message: details, metadata };
}

export interface LeaderHint {
  /** The answer came from a master that does not lead. */
  notLeader: boolean;
  /** Where the leader is, when the answer said. */
  leader?: string;
}

/**
 * Reads a failed call's error (or a stream's status) for a redirect. Anything else, another
 * UNAVAILABLE included (a dead master), is { notLeader: false }: the caller tries the next master.
 */
export function leaderHint(err: unknown): LeaderHint {
  if (!isServiceError(err) || err.code !== GrpcStatus.UNAVAILABLE) return { notLeader: false };
  if (!(err.details ?? "").startsWith(NOT_LEADER)) return { notLeader: false };
  const value = err.metadata?.get(LEADER_METADATA_KEY)[0];
  const leader = typeof value === "string" && value !== "" ? value : undefined;
  return leader ? { notLeader: true, leader } : { notLeader: true };
}
