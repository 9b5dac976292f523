// The series every framework gets from the SDK: offers received and what became of them, the
// time the framework took to decide on each, status updates received, re-subscriptions. One
// registry per driver unless the framework hands one in (to add its own series beside them,
// as the service framework does) and serves it with serveMetrics (--metrics-listen).
import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";
import { LATENCY_SECONDS } from "../common/metric-buckets.js";
import { stateName, type TaskState } from "../common/task-states.js";

/** Offers waiting for a decision; past this many the oldest are forgotten (never unbounded). */
const MAX_OPEN_OFFERS = 10_000;

export type OfferOutcome = "accepted" | "declined" | "rescinded";

export class FrameworkMetrics {
  private readonly received: Counter;
  private readonly decided: Counter<"outcome">;
  private readonly decisionSeconds: Histogram<"outcome">;
  private readonly updates: Counter<"state">;
  private readonly reconnects: Counter;
  /** Offer id → when it arrived. */
  private readonly open = new Map<string, number>();

  /** `processMetrics`: also the Node process's own series (CPU, memory, event loop lag). */
  constructor(
    readonly registry: Registry = new Registry(),
    opts: { processMetrics?: boolean } = {},
    private readonly now: () => number = Date.now,
  ) {
    const registers = [registry];
    if (opts.processMetrics) collectDefaultMetrics({ register: registry });
    this.received = new Counter({
      name: "yard_framework_offers_received_total",
      help: "Offers the master sent this framework.",
      registers,
    });
    this.decided = new Counter({
      name: "yard_framework_offers_total",
      help: "Offers by outcome: accepted, declined, or rescinded before the framework decided.",
      labelNames: ["outcome"],
      registers,
    });
    this.decisionSeconds = new Histogram({
      name: "yard_framework_offer_decision_seconds",
      help: "From an offer's arrival to the framework's Accept or Decline call.",
      labelNames: ["outcome"],
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.updates = new Counter({
      name: "yard_framework_status_updates_total",
      help: "Task status updates received, by state.",
      labelNames: ["state"],
      registers,
    });
    this.reconnects = new Counter({
      name: "yard_framework_reconnects_total",
      help: "Subscriptions after the first one (a lost stream, a master failover).",
      registers,
    });
    for (const outcome of ["accepted", "declined", "rescinded"] as const) this.decided.inc({ outcome }, 0);
  }

  offersReceived(ids: readonly string[]): void {
    this.received.inc(ids.length);
    const t = this.now();
    for (const id of ids) {
      if (this.open.size >= MAX_OPEN_OFFERS) this.open.delete(this.open.keys().next().value as string);
      this.open.set(id, t);
    }
  }

  /** The framework answered (or the master took back) offers; unknown ids count, without a time. */
  offersDecided(ids: readonly string[], outcome: OfferOutcome): void {
    const t = this.now();
    for (const id of ids) {
      const at = this.open.get(id);
      this.open.delete(id);
      // An offer rescinded after its answer was already counted.
      if (at === undefined && outcome === "rescinded") continue;
      this.decided.inc({ outcome });
      if (at !== undefined && outcome !== "rescinded")
        this.decisionSeconds.observe({ outcome }, Math.max(0, t - at) / 1000);
    }
  }

  updateReceived(state: TaskState): void {
    this.updates.inc({ state: stateName(state) });
  }

  reconnected(): void {
    this.reconnects.inc();
  }
}
