// The service framework's own series, beside the SDK's (framework-sdk/framework-metrics.ts) on
// one registry: deployments by state and instances by health, read from the app book at scrape
// time, and how long each rollout step took, observed as the book records the step's change.
import { Gauge, Histogram, PHASE_SECONDS, type Registry } from "../../framework-sdk/index.js";
import type { AppBook } from "./app-book.js";
import { type DeploymentRecord, isEnded } from "./service-state.js";

export class RolloutMetrics {
  private readonly stepSeconds: Histogram<"outcome">;
  /** Deployment id → its current step and when (seconds) it began. */
  private readonly steps = new Map<string, { step: number; since: number }>();
  private book?: AppBook;

  constructor(registry: Registry) {
    const registers = [registry];
    const self = this;
    this.stepSeconds = new Histogram({
      name: "yard_service_rollout_step_seconds",
      help: "Duration of a rollout step, from its start (or its deployment's) to the next step or the deployment's end; outcome next, or the end state.",
      labelNames: ["outcome"],
      buckets: PHASE_SECONDS,
      registers,
    });
    new Gauge({
      name: "yard_service_deployments",
      help: "Apps by the state of their latest deployment.",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const list of self.book?.deployments.values() ?? []) {
          const latest = list[list.length - 1];
          if (latest) counts.set(latest.state, (counts.get(latest.state) ?? 0) + 1);
        }
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    new Gauge({
      name: "yard_service_instances",
      help: "Instances of an app by health (healthy, unhealthy, unknown...), as the framework sees them.",
      labelNames: ["app", "health"],
      registers,
      collect() {
        this.reset();
        for (const l of self.book?.live.values() ?? []) this.inc({ app: l.rec.app, health: l.health });
      },
    });
  }

  /** The book whose state the gauges read (one per term of an active instance). */
  attach(book: AppBook): void {
    this.book = book;
    this.steps.clear();
  }

  /** A deployment as the book is told to store it; `now` in seconds. */
  deploymentChanged(d: DeploymentRecord, now: number): void {
    const seen = this.steps.get(d.id);
    if (!seen) {
      if (!isEnded(d)) this.steps.set(d.id, { step: d.step, since: d.startedAt || now });
      return;
    }
    if (isEnded(d)) {
      this.stepSeconds.observe({ outcome: d.state }, Math.max(0, now - seen.since));
      this.steps.delete(d.id);
    } else if (d.step !== seen.step) {
      this.stepSeconds.observe({ outcome: "next" }, Math.max(0, now - seen.since));
      this.steps.set(d.id, { step: d.step, since: now });
    }
  }
}
