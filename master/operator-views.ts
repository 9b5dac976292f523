// How the registry looks to an operator: AgentState, FrameworkState and TaskRecord built from
// the master's entries, the allocator's accounting and the outstanding offers. Pure.
import { addResources, emptyResources, type Resources, subtractResources } from "../common/resources.js";
import { isTerminal } from "../common/task-states.js";
import type { AgentState, FrameworkState, TaskRecord } from "../proto/gen/yard/v1/operator.js";
import type { Allocator } from "./allocator/allocator.js";
import type { OfferBook, OfferRecord } from "./allocator/offer-book.js";
import type { AgentEntry, FrameworkEntry, TaskEntry } from "./registry-entries.js";

export interface TaskFilter {
  frameworkId?: string;
  agentId?: string;
  includeTerminal?: boolean;
}

function sumOffered(offers: OfferRecord[]): Resources {
  let offered = emptyResources();
  for (const o of offers) offered = addResources(offered, o.resources);
  return offered;
}

/** Offered resources are shown apart from allocated ones, though the allocator counts both. */
export function agentView(a: AgentEntry, allocator: Allocator, offers: OfferBook): AgentState {
  const total = a.info.resources ?? emptyResources();
  const offered = sumOffered(offers.forAgent(a.info.id));
  const allocated = subtractResources(subtractResources(total, allocator.available(a.info.id)), offered);
  const status = a.status === "ACTIVE" && a.draining ? (a.tasks.size > 0 ? "DRAINING" : "DRAINED") : a.status;
  return {
    info: a.info,
    status,
    allocated,
    offered,
    registeredAt: a.registeredAt,
    lastHeartbeat: a.lastSeenMs / 1000,
    runningTasks: a.tasks.size,
    conditions: a.conditions,
  };
}

export function frameworkView(f: FrameworkEntry, allocator: Allocator, offers: OfferBook): FrameworkState {
  const offered = sumOffered(offers.forFramework(f.info.id));
  const active = f.status !== "INACTIVE";
  return {
    info: f.info,
    status: f.status,
    allocated: active
      ? subtractResources(allocator.frameworkAllocation(f.info.id), offered)
      : emptyResources(),
    offered,
    registeredAt: f.registeredAt,
    disconnectedAt: f.disconnectedAtMs / 1000,
    suppressed: f.suppressed,
    activeTasks: f.tasks.size,
    dominantShare: active ? allocator.dominantShare(f.info.id) : 0,
    principal: f.principal,
  };
}

export function taskViews(tasks: Iterable<TaskEntry>, filter: TaskFilter): TaskRecord[] {
  const out: TaskRecord[] = [];
  for (const t of tasks) {
    if (filter.frameworkId && t.frameworkId !== filter.frameworkId) continue;
    if (filter.agentId && t.info.agentId !== filter.agentId) continue;
    if (!filter.includeTerminal && isTerminal(t.status.state)) continue;
    out.push({
      info: t.info,
      frameworkId: t.frameworkId,
      status: t.status,
      createdAt: t.createdAt,
      usage: t.usage,
    });
  }
  return out;
}
