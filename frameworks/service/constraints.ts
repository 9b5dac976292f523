// Placement constraints (Marathon's operators). Pure. A constraint names "hostname" or an
// agent attribute:
//   UNIQUE    at most one instance per value (e.g. one per host);
//   GROUP_BY  spread evenly over the values seen on the cluster's agents (e.g. zones): an
//             instance may go to a value only while that value has no more instances than
//             the least loaded one;
//   LIKE re   the value must match the regex (whole value); UNLIKE re: must not.
// An agent without the attribute has the value "" (it fails LIKE, passes UNLIKE).
// Placement counts the instances of one revision only: during a rollout the new revision
// may share a host with the old one it replaces, else `hostname UNIQUE` with max_surge
// would deadlock on a cluster with exactly `instances` hosts.
import type { Constraint } from "./app-spec.js";

export interface AgentView {
  agentId: string;
  hostname: string;
  attributes: Readonly<Record<string, string>>;
  /** Releases (NAME@VERSION) the agent held when it was last offered. */
  releases?: readonly string[];
}

export function attributeOf(agent: AgentView, field: string): string {
  if (field === "hostname") return agent.hostname;
  if (field === "agent_id") return agent.agentId;
  return agent.attributes[field] ?? "";
}

const regexCache = new Map<string, RegExp>();
function anchored(re: string): RegExp {
  let r = regexCache.get(re);
  if (!r) {
    r = new RegExp(`^(?:${re})$`);
    regexCache.set(re, r);
  }
  return r;
}

/** The first LIKE/UNLIKE constraint the agent breaks, as a reason; undefined when none. */
export function staticViolation(constraints: readonly Constraint[], agent: AgentView): string | undefined {
  for (const c of constraints) {
    const v = attributeOf(agent, c.field);
    if (c.op === "LIKE" && !anchored(c.value).test(v))
      return `${c.field} ${JSON.stringify(v)} is not LIKE ${c.value}`;
    if (c.op === "UNLIKE" && anchored(c.value).test(v))
      return `${c.field} ${JSON.stringify(v)} is LIKE ${c.value}`;
  }
  return undefined;
}

/**
 * Why one more instance may not go on `agent`, given the agents the instances of the same
 * revision run on (`placed`, one entry per instance) and the agents known in the cluster
 * (for GROUP_BY's set of values); undefined when it may.
 */
export function placementViolation(
  constraints: readonly Constraint[],
  agent: AgentView,
  placed: readonly AgentView[],
  known: readonly AgentView[],
): string | undefined {
  const stat = staticViolation(constraints, agent);
  if (stat) return stat;
  for (const c of constraints) {
    const v = attributeOf(agent, c.field);
    if (c.op === "UNIQUE" && placed.some((p) => attributeOf(p, c.field) === v)) {
      return `${c.field} ${JSON.stringify(v)} already runs an instance (UNIQUE)`;
    }
    if (c.op === "GROUP_BY") {
      const counts = new Map<string, number>();
      for (const k of [...known, agent]) {
        if (!staticViolation(constraints, k)) counts.set(attributeOf(k, c.field), 0);
      }
      for (const p of placed) {
        const pv = attributeOf(p, c.field);
        counts.set(pv, (counts.get(pv) ?? 0) + 1);
      }
      const min = Math.min(...counts.values());
      if ((counts.get(v) ?? 0) > min)
        return `${c.field} ${JSON.stringify(v)} has more instances than another value (GROUP_BY)`;
    }
  }
  return undefined;
}
