// The agent's Prometheus series, on a registry of its own (several agents share a process in
// the benchmarks and tests). Events (launches, probes, fetch progress) are recorded as they
// happen; task counts and resources are read from the agent's table at scrape time.
// Served by common/metrics-server.ts when the agent has --metrics-listen.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { LATENCY_SECONDS, THROUGHPUT_BYTES_PER_SECOND } from "../common/metric-buckets.js";
import type { Resources } from "../common/resources.js";
import { stateName, TaskState } from "../common/task-states.js";
import type { FetchProgress } from "../proto/gen/yard/v1/agent.js";

/** What the gauges read from the agent at scrape time. */
export interface AgentMetricsView {
  taskStates(): Iterable<TaskState>;
  total(): Resources | undefined;
  /** Resources of the tasks that have not ended. */
  used(): Resources;
}

const MIB = 1024 * 1024;
/** Launches waiting for their RUNNING; past this many the oldest are forgotten (never unbounded). */
const MAX_PENDING_LAUNCHES = 10_000;

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly launches: Counter;
  private readonly launchSeconds: Histogram;
  private readonly probeSeconds: Histogram<"kind" | "result">;
  private readonly fetchBytes: Counter;
  private readonly fetchThroughput: Histogram;
  /** Task name → when its launch arrived. */
  private readonly pending = new Map<string, number>();
  /** Release → bytes counted so far and when its fetch was first reported. */
  private readonly fetches = new Map<string, { counted: number; startedMs: number }>();

  constructor(
    view: AgentMetricsView,
    private readonly now: () => number = Date.now,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.launches = new Counter({
      name: "yard_agent_task_launches_total",
      help: "Task launches the master sent to this agent.",
      registers,
    });
    this.launchSeconds = new Histogram({
      name: "yard_agent_task_launch_seconds",
      help: "From a launch reaching the agent to the task's TASK_RUNNING (fetch, install and start included).",
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.probeSeconds = new Histogram({
      name: "yard_agent_health_check_seconds",
      help: "Duration of a health probe, by kind (http, tcp, command) and result (healthy, unhealthy).",
      labelNames: ["kind", "result"],
      buckets: LATENCY_SECONDS,
      registers,
    });
    this.fetchBytes = new Counter({
      name: "yard_agent_release_fetch_bytes_total",
      help: "Release bytes downloaded by this agent.",
      registers,
    });
    this.fetchThroughput = new Histogram({
      name: "yard_agent_release_fetch_throughput_bytes_per_second",
      help: "Per release fetched: its size over the time from the fetch's first report to DONE.",
      buckets: THROUGHPUT_BYTES_PER_SECOND,
      registers,
    });
    new Gauge({
      name: "yard_agent_tasks",
      help: "Tasks on this agent by state (ended ones until their last update is acknowledged).",
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const s of view.taskStates()) counts.set(stateName(s), (counts.get(stateName(s)) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
    const resources = (name: string, help: string, read: () => Resources | undefined) =>
      new Gauge({
        name,
        help,
        labelNames: ["resource"],
        registers,
        collect() {
          const r = read();
          this.set({ resource: "cpus" }, r?.cpus ?? 0);
          this.set({ resource: "mem_bytes" }, (r?.mem ?? 0) * MIB);
          this.set({ resource: "disk_bytes" }, (r?.disk ?? 0) * MIB);
        },
      });
    resources(
      "yard_agent_resource_total",
      "Resources this agent offers: cpus in cores, mem_bytes and disk_bytes in bytes.",
      () => view.total(),
    );
    resources("yard_agent_resource_used", "Resources held by this agent's tasks that have not ended.", () =>
      view.used(),
    );
  }

  launchReceived(taskName: string): void {
    this.launches.inc();
    if (this.pending.size >= MAX_PENDING_LAUNCHES) {
      const oldest = this.pending.keys().next().value as string;
      this.pending.delete(oldest);
    }
    this.pending.set(taskName, this.now());
  }

  /** A task's new state: RUNNING ends its launch clock, any other end forgets it. */
  stateReported(taskName: string, state: TaskState): void {
    const started = this.pending.get(taskName);
    if (started === undefined) return;
    if (state === TaskState.TASK_RUNNING) this.launchSeconds.observe((this.now() - started) / 1000);
    if (state !== TaskState.TASK_STAGING && state !== TaskState.TASK_STARTING) this.pending.delete(taskName);
  }

  healthProbe(kind: string, healthy: boolean, seconds: number): void {
    this.probeSeconds.observe({ kind, result: healthy ? "healthy" : "unhealthy" }, seconds);
  }

  /** A fetch progress report, as the agent sends it to the master. */
  fetchProgress(p: FetchProgress): void {
    let f = this.fetches.get(p.release);
    if (!f) {
      f = { counted: 0, startedMs: this.now() };
      this.fetches.set(p.release, f);
    }
    const downloaded = p.state === "DONE" ? Math.max(p.downloaded, p.size) : p.downloaded;
    if (downloaded > f.counted) {
      this.fetchBytes.inc(downloaded - f.counted);
      f.counted = downloaded;
    }
    if (p.state === "DONE" || p.state === "FAILED" || p.state === "EVICTED") {
      this.fetches.delete(p.release);
      const seconds = (this.now() - f.startedMs) / 1000;
      // A release already in the cache reports DONE at once, with nothing downloaded: no rate.
      if (p.state === "DONE" && f.counted > 0 && seconds > 0) this.fetchThroughput.observe(p.size / seconds);
    }
  }
}
