// OperatorService.Explain: why work waits, at both levels. The framework's half is what it
// reported (pending-reports.ts); the master's half is how its offers to that framework stand
// (Allocator.explainFramework): active, suppressed, its share, its filters, and every agent
// counted by why it is not offered to the framework now.
import { InvalidArgumentError, NotFoundError } from "../common/errors.js";
import { TaskState } from "../common/task-states.js";
import type { Explanation, ExplainRequest, OfferExplanation } from "../proto/gen/yard/v1/operator.js";
import type { MasterCore } from "./master-core.js";
import type { TaskEntry } from "./registry-entries.js";

export const EXPLAIN_KINDS = ["task", "app", "job"] as const;

/** `operatorTask`: how the master finds the task an operator names (Master.operatorTask). */
export function explain(
  core: MasterCore,
  req: ExplainRequest,
  nowMs: number,
  operatorTask: (taskId: string, frameworkId: string) => TaskEntry,
): Explanation {
  if (!(EXPLAIN_KINDS as readonly string[]).includes(req.kind))
    throw new InvalidArgumentError("kind", `"${req.kind}" is not one of ${EXPLAIN_KINDS.join(", ")}`);
  if (!req.name) throw new InvalidArgumentError("name", "is required");
  const out: Explanation = {
    kind: req.kind,
    name: req.name,
    frameworkId: "",
    frameworkName: "",
    work: undefined,
    taskState: TaskState.TASK_STATE_UNSPECIFIED,
    agentId: "",
    offers: undefined,
    reportedAt: 0,
  };
  const reported = core.pending.find(req.kind, req.name, req.frameworkId);
  if (reported.length > 1) {
    const ids = [...new Set(reported.map((r) => r.frameworkId))].sort().join(", ");
    throw new InvalidArgumentError(
      "framework_id",
      `${req.kind} ${req.name} waits in ${reported.length} frameworks (${ids}); name one`,
    );
  }
  const [hit] = reported;
  if (hit) {
    out.frameworkId = hit.frameworkId;
    out.work = hit.work;
    out.reportedAt = hit.atMs / 1000;
  } else if (req.kind === "task") {
    // Not waiting: the master may know it (launched), or nobody does.
    let task: TaskEntry;
    try {
      task = operatorTask(req.name, req.frameworkId);
    } catch (err) {
      if (err instanceof NotFoundError)
        throw new NotFoundError(
          `task ${req.name} not found: the master does not know it and no framework reports it waiting`,
        );
      throw err;
    }
    out.frameworkId = task.frameworkId;
    out.taskState = task.status.state;
    out.agentId = task.info.agentId;
  } else if (req.frameworkId) {
    out.frameworkId = req.frameworkId;
  }
  if (out.frameworkId) {
    const fw = core.frameworks.get(out.frameworkId);
    out.frameworkName = fw?.info.name ?? "";
    out.reportedAt ||= (core.pending.of(out.frameworkId)?.atMs ?? 0) / 1000;
    out.offers = offerExplanation(core, out.frameworkId, nowMs);
  }
  return out;
}

function offerExplanation(
  core: MasterCore,
  frameworkId: string,
  nowMs: number,
): OfferExplanation | undefined {
  const view = core.allocator.explainFramework(frameworkId, nowMs, (a, f) => core.offers.has(a, f));
  if (!view) return undefined;
  return {
    active: view.active,
    suppressed: view.suppressed,
    role: view.role,
    dominantShare: view.dominantShare,
    lastOfferAt: (core.lastOfferAtMs.get(frameworkId) ?? 0) / 1000,
    outstandingOffers: core.offers.forFramework(frameworkId).length,
    agents: [...view.agents].map(([reason, agents]) => ({ reason, agents })),
    filteredUntil: view.filteredUntilMs / 1000,
  };
}
