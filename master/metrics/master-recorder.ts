// What the master records as things happen: histograms of the latencies an operator asks
// about (how long a cycle takes, how long frameworks sit on offers, how long a launch takes to
// run, how long an update takes to be acknowledged) and counters of offers that came back.
// Everything computed from state (agents, shares, starvation) is a gauge collected at scrape
// time instead (state-gauges.ts), so the hot paths pay one observe() at most.
//
// One Registry per master, never prom-client's global one: tests run several masters in one
// process, and an HA standby must not serve its leader's numbers.
import { Counter, Histogram, Registry } from "prom-client";
import { CYCLE_SECONDS, LATENCY_SECONDS, THROUGHPUT_BYTES_PER_SECOND } from "../../common/metric-buckets.js";

export type CycleKind = "full" | "immediate";

/**
 * Why offers are rescinded, as a bounded label: the master's own reasons carry agent
 * conditions and framework ids, which must not become label values.
 */
export type RescindCause = "timeout" | "agent" | "framework" | "drain" | "disk_pressure";

export class MasterRecorder {
  readonly registry = new Registry();
  private readonly cycleSeconds: Histogram<"kind">;
  private readonly offerToAccept: Histogram;
  private readonly acceptToRunning: Histogram;
  private readonly updateDelivery: Histogram;
  private readonly stagingThroughput: Histogram;
  private readonly declined: Counter;
  private readonly rescinded: Counter<"cause">;

  /**
   * With `recording` false every method returns at once: the scheduler benchmark compares
   * placements/s with and without, in one run (bench/scheduler/run.ts --metrics both).
   */
  constructor(readonly recording = true) {
    const registers = [this.registry];
    this.cycleSeconds = new Histogram({
      name: "yard_allocation_cycle_duration_seconds",
      help: "Allocation cycle duration: full (every agent, on the batch tick) or immediate (agents that changed).",
      labelNames: ["kind"],
      buckets: CYCLE_SECONDS,
      registers,
    });
    this.offerToAccept = new Histogram({
      name: "yard_offer_accept_latency_seconds",
      help: "From an offer's creation to its framework's Accept.",
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.acceptToRunning = new Histogram({
      name: "yard_task_accept_to_running_seconds",
      help: "From the Accept that launched a task to the master's receipt of its TASK_RUNNING.",
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.updateDelivery = new Histogram({
      name: "yard_status_update_delivery_seconds",
      help: "From an agent's status update reaching the master to its framework's acknowledgement.",
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.stagingThroughput = new Histogram({
      name: "yard_release_staging_throughput_bytes_per_second",
      help: "Per agent and release staged: the release's size over the time from the master's fetch command to the agent's DONE.",
      buckets: THROUGHPUT_BYTES_PER_SECOND,
      registers,
    });
    this.declined = new Counter({
      name: "yard_offers_declined_total",
      help: "Offers declined by their framework.",
      registers,
    });
    this.rescinded = new Counter({
      name: "yard_offers_rescinded_total",
      help: "Offers taken back by the master, by cause: timeout, agent (lost, disconnected), framework (disconnected, suppressed, removed), drain, disk_pressure.",
      labelNames: ["cause"],
      registers,
    });
    // Every cause shows from the start, at 0, so that rate() has a series to work on.
    for (const cause of ["timeout", "agent", "framework", "drain", "disk_pressure"] as const)
      this.rescinded.inc({ cause }, 0);
    this.declined.inc(0);
  }

  cycle(kind: CycleKind, ms: number): void {
    if (this.recording) this.cycleSeconds.observe({ kind }, ms / 1000);
  }

  offerAccepted(offerCreatedAtMs: number, nowMs: number): void {
    if (this.recording) this.offerToAccept.observe(Math.max(0, nowMs - offerCreatedAtMs) / 1000);
  }

  taskRunning(acceptedAtMs: number, nowMs: number): void {
    if (this.recording) this.acceptToRunning.observe(Math.max(0, nowMs - acceptedAtMs) / 1000);
  }

  updateAcknowledged(receivedAtMs: number, nowMs: number): void {
    if (this.recording) this.updateDelivery.observe(Math.max(0, nowMs - receivedAtMs) / 1000);
  }

  stagingDone(bytes: number, seconds: number): void {
    if (this.recording && bytes > 0 && seconds > 0) this.stagingThroughput.observe(bytes / seconds);
  }

  offersDeclined(n: number): void {
    if (this.recording && n > 0) this.declined.inc(n);
  }

  offerRescinded(cause: RescindCause): void {
    if (this.recording) this.rescinded.inc({ cause });
  }
}
