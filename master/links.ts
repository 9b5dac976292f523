// The master's view of its peers' open streams. The gRPC shells implement these; the
// Master core only ever talks to a link, which makes it testable without sockets.
import type { MasterMessage } from "../proto/gen/yard/v1/agent.js";
import type { Event } from "../proto/gen/yard/v1/scheduler.js";

export interface AgentLink {
  readonly linkId: number;
  send(msg: MasterMessage): void;
  /** Ends the stream (after a refusal, or when the agent is replaced or lost). */
  close(): void;
}

export interface FrameworkLink {
  readonly linkId: number;
  /**
   * Sends `event` once what was written before it is stored; `stored`: the caller knows it
   * is (it sends from an afterCommit callback), so only the stream's order holds it back.
   */
  send(event: Event, stored?: boolean): void;
  /** Ends the event stream with a gRPC status code and message. */
  end(code: number, message: string): void;
}

let nextLinkId = 1;
export function newLinkId(): number {
  return nextLinkId++;
}
