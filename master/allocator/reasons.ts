// Why the allocator made no offer of an agent's resources in its last cycle. Operators and
// "why pending" answers match on these constants; keep them stable.
export const AllocatorReason = {
  /** Everything the agent has is held by tasks or outstanding offers (or is below the minimum). */
  NO_RESOURCES: "no_resources",
  /** The agent is being drained: no new offers on it. */
  DRAINING: "draining",
  /** The agent reports disk pressure (it cannot write its checkpoint): no new offers on it. */
  DISK_PRESSURE: "disk_pressure",
  /** The agent is disconnected: it keeps its allocations but gets no offers. */
  INACTIVE: "inactive",
  /** No framework could be offered anything: none is active and unsuppressed. */
  NO_FRAMEWORKS: "no_frameworks",
  /** Every framework that could be offered the agent has a refuse filter on it. */
  ALL_FILTERED: "all_filtered",
  /** Every framework that could be offered the agent already holds an offer on it. */
  OUTSTANDING_OFFER: "outstanding_offer",
  /** The agent's resources are held back for roles still below their quota. */
  QUOTA: "quota",
  /** The agent has free resources that no cycle has looked at yet. */
  PENDING: "pending",
} as const;
export type AllocatorReasonCode = (typeof AllocatorReason)[keyof typeof AllocatorReason];
