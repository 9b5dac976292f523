// The master's series computed from its state when Prometheus scrapes, not as it changes:
// agents by status, per-agent capacity and allocation, per-framework dominant share and offer
// starvation, task and placement counts. Registered on the master's own registry
// (master-recorder.ts); the allocation hot path pays nothing for them.
import { Counter, Gauge, type Registry } from "prom-client";
import type { Resources } from "../../common/resources.js";
import type { AgentState, FrameworkState } from "../../proto/gen/yard/v1/operator.js";

/** What the gauges read from the master (Master implements it). */
export interface MasterStateView {
  agentStates(): AgentState[];
  frameworkStates(): FrameworkState[];
  activeTaskCount(): number;
  readonly counters: { placements: number; offersSent: number; statusUpdates: number; cycles: number };
  cycleTimes(kind: "full" | "immediate"): number[];
  /** Connected frameworks that want offers (not suppressed), and seconds since their last offer. */
  offerStarvation(nowMs: number): { frameworkId: string; name: string; seconds: number }[];
}

const MIB = 1024 * 1024;

/**
 * One resource label for the scalar resources, in base units: cpus in cores, mem and disk in
 * bytes (the master keeps MiB). Ports are ranges, not a quantity, and are left out.
 */
export function resourceSamples(r: Resources | undefined): [string, number][] {
  return [
    ["cpus", r?.cpus ?? 0],
    ["mem_bytes", (r?.mem ?? 0) * MIB],
    ["disk_bytes", (r?.disk ?? 0) * MIB],
  ];
}

/** The q-quantile of ascending `sorted` (nearest rank); 0 for none. */
export function quantileOf(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export function registerStateGauges(registry: Registry, view: MasterStateView, now = Date.now): void {
  const registers = [registry];
  const counterOf = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  new Gauge({
    name: "yard_agents",
    help: "Agents by status.",
    labelNames: ["status"],
    registers,
    collect() {
      this.reset();
      const byStatus = new Map<string, number>();
      for (const a of view.agentStates()) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
      for (const [status, n] of byStatus) this.set({ status }, n);
    },
  });
  new Gauge({
    name: "yard_agents_disk_pressure",
    help: "Agents reporting disk pressure (they get no offers).",
    registers,
    collect() {
      this.set(view.agentStates().filter((a) => a.conditions?.diskPressure).length);
    },
  });
  const agentLabels = ["agent_id", "hostname", "resource"] as const;
  // Agents gone for good (LOST) hold nothing and offer nothing: no series for them.
  const liveAgents = () => view.agentStates().filter((a) => a.status !== "LOST");
  new Gauge({
    name: "yard_agent_resource_capacity",
    help: "An agent's total resources: cpus in cores, mem_bytes and disk_bytes in bytes.",
    labelNames: agentLabels,
    registers,
    collect() {
      this.reset();
      for (const a of liveAgents())
        for (const [resource, v] of resourceSamples(a.info?.resources))
          this.set({ agent_id: a.info?.id ?? "", hostname: a.info?.hostname ?? "", resource }, v);
    },
  });
  new Gauge({
    name: "yard_agent_resource_allocated",
    help: "An agent's resources held by tasks (not counting outstanding offers).",
    labelNames: agentLabels,
    registers,
    collect() {
      this.reset();
      for (const a of liveAgents())
        for (const [resource, v] of resourceSamples(a.allocated))
          this.set({ agent_id: a.info?.id ?? "", hostname: a.info?.hostname ?? "", resource }, v);
    },
  });
  new Gauge({
    name: "yard_agent_resource_offered",
    help: "An agent's resources in outstanding offers.",
    labelNames: agentLabels,
    registers,
    collect() {
      this.reset();
      for (const a of liveAgents())
        for (const [resource, v] of resourceSamples(a.offered))
          this.set({ agent_id: a.info?.id ?? "", hostname: a.info?.hostname ?? "", resource }, v);
    },
  });
  new Gauge({
    name: "yard_frameworks",
    help: "Frameworks known to the master.",
    registers,
    collect() {
      this.set(view.frameworkStates().length);
    },
  });
  new Gauge({
    name: "yard_framework_dominant_share",
    help: "A framework's dominant share of the cluster (DRF), in [0, 1]; removed frameworks have none.",
    labelNames: ["framework_id", "framework_name"],
    registers,
    collect() {
      this.reset();
      for (const f of view.frameworkStates()) {
        if (f.status === "INACTIVE") continue;
        this.set({ framework_id: f.info?.id ?? "", framework_name: f.info?.name ?? "" }, f.dominantShare);
      }
    },
  });
  new Gauge({
    name: "yard_framework_offer_starvation_seconds",
    help: "For a connected framework that wants offers (not suppressed): seconds since it last got one (or since it subscribed or revived); 0 while it holds one.",
    labelNames: ["framework_id", "framework_name"],
    registers,
    collect() {
      this.reset();
      for (const s of view.offerStarvation(now()))
        this.set({ framework_id: s.frameworkId, framework_name: s.name }, s.seconds);
    },
  });
  new Gauge({
    name: "yard_tasks_active",
    help: "Non-terminal tasks.",
    registers,
    collect() {
      this.set(view.activeTaskCount());
    },
  });
  counterOf("yard_task_placements_total", "Tasks launched through Accept.", () => view.counters.placements);
  counterOf("yard_offers_sent_total", "Offers sent to frameworks.", () => view.counters.offersSent);
  counterOf(
    "yard_status_updates_total",
    "Status updates received from agents.",
    () => view.counters.statusUpdates,
  );
  counterOf("yard_allocation_cycles_total", "Allocation cycles run.", () => view.counters.cycles);
  // Kept for the dashboards and the benchmark that read it; yard_allocation_cycle_duration_seconds
  // is the histogram to aggregate across masters.
  new Gauge({
    name: "yard_allocation_cycle_ms",
    help: "Deprecated: allocation cycle duration in ms over the recent cycles (p50, p99), full or immediate; use yard_allocation_cycle_duration_seconds.",
    labelNames: ["kind", "quantile"],
    registers,
    collect() {
      this.reset();
      for (const kind of ["full", "immediate"] as const) {
        const sorted = view.cycleTimes(kind).sort((a, b) => a - b);
        for (const q of [0.5, 0.99]) this.set({ kind, quantile: String(q) }, quantileOf(sorted, q));
      }
    },
  });
  new Gauge({
    name: "yard_master_rss_bytes",
    help: "Resident set size of the master process.",
    registers,
    collect() {
      this.set(process.memoryUsage().rss);
    },
  });
}
