// Which pending tasks go into which offer. Pure: offers and pending tasks in, a plan out.
//
// Tasks are served first come, first served: jobs in submission order, tasks by index. Each
// offer takes as many of the remaining tasks as fit (SDK takeTasks: greedy, lowest ports
// first); an offer that takes none is declined. A task that needs an executor the offer's
// agent lacks is skipped for that offer (the SDK's offerRunsExecutor, as the service framework).
import {
  type Offer,
  offerRunsExecutor,
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

export function planOffers(offers: readonly Offer[], pending: readonly PendingTask[]): Plan {
  let left = [...pending];
  const plan: Plan = { accept: [], decline: [] };
  for (const offer of offers) {
    const candidates = left.filter((t) => offerRunsExecutor(offer, t.executor));
    const taken = takeTasks(
      offer,
      candidates.map((t) => t.requirement),
    );
    if (taken.placed.length === 0) {
      plan.decline.push(offer);
      continue;
    }
    const launches = taken.placed.map((p) => ({ task: candidates[p.index], resources: p.resources }));
    const used = new Set(launches.map((l) => l.task));
    left = left.filter((t) => !used.has(t));
    plan.accept.push({ offer, launches });
  }
  return plan;
}
