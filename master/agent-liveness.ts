// When the master gives up on an agent, as rules over plain data (Mesos's partition-aware
// agents, Kubernetes' node lifecycle):
//   - silence past the agent timeout makes an agent UNREACHABLE: its tasks become
//     TASK_UNREACHABLE, which is not terminal, and it keeps them if it comes back;
//   - unreachable past the agent gone timeout, it is gone (LOST): its tasks become TASK_LOST;
//   - time the master itself could not run (a stall of its event loop: a pause, a swap storm,
//     a stopped process) is nobody's silence: after a stall longer than a fraction of the
//     agent timeout every agent gets a fresh timeout before anything is declared.
import type { AgentStatusName } from "./store/registry-store.js";

export interface AgentClock {
  status: AgentStatusName;
  /** Last message from the agent (or the master's start, or the end of its last stall). */
  lastSeenMs: number;
  /** When it became UNREACHABLE (or the master's start, or the end of its last stall). */
  unreachableSinceMs?: number;
}

export interface LivenessTimeouts {
  agentTimeoutMs: number;
  agentGoneTimeoutMs: number;
}

/** What the master must declare about an agent now, if anything. */
export function agentVerdict(
  a: AgentClock,
  nowMs: number,
  t: LivenessTimeouts,
): "unreachable" | "gone" | undefined {
  switch (a.status) {
    case "LOST":
      return undefined;
    case "UNREACHABLE":
      return nowMs - (a.unreachableSinceMs ?? nowMs) > t.agentGoneTimeoutMs ? "gone" : undefined;
    default:
      return nowMs - a.lastSeenMs > t.agentTimeoutMs ? "unreachable" : undefined;
  }
}

/**
 * A stall of the master shorter than this share of the agent timeout cannot by itself push
 * a heartbeating agent past its timeout (heartbeats come several times per timeout), so it
 * is ignored; a longer one resets every agent's clock.
 */
export const STALL_FRACTION = 1 / 3;

/**
 * The stall (ms) the master just came out of, judged from its periodic tick: the tick was due
 * `periodMs` after the previous one and came `nowMs - prevTickMs` after it. 0 when the delay
 * is within `STALL_FRACTION` of the agent timeout.
 */
export function stallMs(prevTickMs: number, nowMs: number, periodMs: number, agentTimeoutMs: number): number {
  const lag = nowMs - prevTickMs - periodMs;
  return lag > agentTimeoutMs * STALL_FRACTION ? lag : 0;
}

/** Restarts every agent's clocks at `nowMs` (after a stall or a restart of the master). */
export function freshClock(a: AgentClock, nowMs: number): void {
  if (a.status === "LOST") return;
  a.lastSeenMs = Math.max(a.lastSeenMs, nowMs);
  if (a.status === "UNREACHABLE") a.unreachableSinceMs = Math.max(a.unreachableSinceMs ?? nowMs, nowMs);
}
