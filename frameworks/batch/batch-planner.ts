// Which pending tasks go into which offer. Pure: offers and pending tasks in, a plan out.
//
// Tasks are served first come, first served: jobs in submission order, tasks by index. Each
// offer takes as many of the remaining tasks as fit (SDK takeTasks: greedy, lowest ports
// first); an offer that takes none is declined. A task that needs an executor the offer's
// agent lacks is skipped for that offer (the SDK's offerRunsExecutor, as the service framework).
import {
  type Offer,
  offerRunsExecutor,
  PendingReasonCode,
  type PendingTally,
  type Resources,
  type TaskRequirement,
  takeTasks,
} from "../../framework-sdk/index.js";

export interface PendingTask {
  jobId: string;
  index: number;
  taskId: string;
  requirement: TaskRequirement;
  /** "process" or "docker". */
  executor: string;
}

export interface Launch {
  task: PendingTask;
  /** Concrete resources for the task, ports included. */
  resources: Resources;
}

export interface OfferPlan {
  offer: Offer;
  launches: Launch[];
}

export interface Plan {
  /** Offers that take at least one task, with their tasks. */
  accept: OfferPlan[];
  /** Offers that take none. */
  decline: Offer[];
}

export function planOffers(
  offers: readonly Offer[],
  pending: readonly PendingTask[],
  tally?: PendingTally,
): Plan {
  let left = [...pending];
  const plan: Plan = { accept: [], decline: [] };
  for (const offer of offers) {
    const candidates = left.filter((t) => offerRunsExecutor(offer, t.executor));
    const taken = takeTasks(
      offer,
      candidates.map((t) => t.requirement),
    );
    const launches = taken.placed.map((p) => ({ task: candidates[p.index]!, resources: p.resources }));
    const used = new Set(launches.map((l) => l.task));
    left = left.filter((t) => !used.has(t));
    if (tally) tallyMisfits(tally, offer, taken.remaining, left);
    if (launches.length === 0) plan.decline.push(offer);
    else plan.accept.push({ offer, launches });
  }
  return plan;
}

/** Why the jobs still waiting did not (all) fit this offer: once per job ("why pending"). */
function tallyMisfits(
  tally: PendingTally,
  offer: Offer,
  remaining: Resources,
  waiting: readonly PendingTask[],
) {
  const seen = new Set<string>();
  for (const t of waiting) {
    if (seen.has(t.jobId)) continue;
    seen.add(t.jobId);
    if (!offerRunsExecutor(offer, t.executor)) {
      const runs = offer.executors.join(", ") || "none";
      tally.misfit(
        "job",
        t.jobId,
        PendingReasonCode.EXECUTOR,
        `needs the ${t.executor} executor; ${offer.hostname || offer.agentId} runs ${runs}`,
      );
    } else tally.tooSmall("job", t.jobId, remaining, t.requirement);
  }
}
