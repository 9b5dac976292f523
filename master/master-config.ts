// The master's tunables and their defaults (flags and the config file map onto these).
import type { Resources } from "../common/resources.js";
import type { FrameworkInfo } from "../proto/gen/yard/v1/common.js";

export interface MasterConfig {
  allocationIntervalMs: number;
  offerTimeoutMs: number;
  /** Silence after which an agent is UNREACHABLE and its tasks TASK_UNREACHABLE. */
  agentTimeoutMs: number;
  /**
   * Time an agent may stay UNREACHABLE before it is declared gone (LOST) and its tasks
   * TASK_LOST; until then it keeps its tasks when it comes back.
   */
  agentGoneTimeoutMs: number;
  agentHeartbeatMs: number;
  frameworkHeartbeatMs: number;
  updateRetryMs: number;
  defaultFailoverTimeoutSeconds: number;
  defaultRefuseSeconds: number;
  /** Terminal, acknowledged tasks kept for `get tasks --all`; older ones are forgotten. */
  maxTerminalTasks: number;
  roles: Record<string, { weight?: number; quota?: Partial<Resources> }>;
  /**
   * Messages a server stream's client may fall behind by (events for a watcher, events for a
   * framework) before the stream is ended with RESOURCE_EXHAUSTED (common/stream-writer.ts).
   */
  streamMaxPendingMessages: number;
  /** Bytes a server stream may hold for a client that does not read (log chunks, framework events). */
  streamMaxPendingBytes: number;
  /** How long stop() waits for calls to finish before it cuts them (SIGTERM to exit). */
  shutdownGraceMs: number;
  /** Cluster events kept for replay (`yardctl events --since`); older ones are forgotten. */
  eventsKept: number;
  /**
   * Whether the latency histograms and event counters are recorded (the gauges computed from
   * state at scrape time are always served). On by default; off only to measure their cost.
   */
  metricsRecording: boolean;
}

export const DEFAULT_MASTER_CONFIG: MasterConfig = {
  allocationIntervalMs: 100,
  offerTimeoutMs: 30_000,
  agentTimeoutMs: 15_000,
  agentGoneTimeoutMs: 300_000,
  agentHeartbeatMs: 3_000,
  frameworkHeartbeatMs: 5_000,
  updateRetryMs: 10_000,
  defaultFailoverTimeoutSeconds: 60,
  defaultRefuseSeconds: 5,
  maxTerminalTasks: 10_000,
  roles: {},
  streamMaxPendingMessages: 5_000,
  streamMaxPendingBytes: 8 * 1024 * 1024,
  shutdownGraceMs: 10_000,
  eventsKept: 10_000,
  metricsRecording: true,
};

/** The role a framework subscribed under ("*" when it named none). */
export function roleOf(info: FrameworkInfo): string {
  return info.role || "*";
}

/**
 * The heartbeat interval agents are given: at most a third of the agent timeout, so that one
 * late heartbeat never makes an agent unreachable (and a short timeout gets fast heartbeats).
 */
export function agentHeartbeatMs(config: MasterConfig): number {
  return Math.min(config.agentHeartbeatMs, config.agentTimeoutMs / 3);
}

export function failoverSeconds(info: FrameworkInfo, config: MasterConfig): number {
  return info.failoverTimeoutSeconds > 0 ? info.failoverTimeoutSeconds : config.defaultFailoverTimeoutSeconds;
}
