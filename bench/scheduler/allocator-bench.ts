// The allocator's own placement rate, in process: allocation cycles over a synthetic cluster
// where every framework launches as many tasks as fit in each offer and returns the rest
// unfiltered, through the same OfferBook the master uses. This is the ceiling that the
// end-to-end benchmark (real master, agents and frameworks over gRPC) is compared with.
//
// Runnable alone: `node dist/bench/scheduler/allocator-bench.js` runs 10,000 agents,
// 10 frameworks and 100,000 tasks and prints the figures.
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import {
  firstPorts,
  parseResources,
  portsToRanges,
  rangesCount,
  type Resources,
  subtractResources,
} from "../../common/resources.js";
import { Allocator } from "../../master/allocator/allocator.js";
import { OfferBook } from "../../master/allocator/offer-book.js";

export interface AllocatorBenchOptions {
  agents: number;
  frameworks: number;
  /** Tasks to place in each round, split evenly among the frameworks. */
  tasks: number;
  taskResources: Resources;
  /** Each agent's total. Default cpus:32;mem:65536;disk:100000;ports:[31000-32000] (as the simulated agents). */
  agentResources?: Resources;
  seed?: number;
  /** Rounds (fresh cluster each) are repeated until this many cycles were timed. Default 20. */
  minCycles?: number;
  /** Upper bound on rounds. Default 20. */
  maxRounds?: number;
}

export interface AllocatorBenchResult {
  placementsPerSecond: number;
  cycleP50Ms: number;
  cycleP99Ms: number;
  cycles: number;
  /** Timed rounds, and the tasks they placed (less than rounds * tasks when the cluster is too small). */
  rounds: number;
  placed: number;
}

interface RoundResult {
  placed: number;
  elapsedMs: number;
  cycleMs: number[];
}

/** The shape of bench/scheduler/sim-agents.ts, so that both benchmarks measure one cluster. */
const DEFAULT_AGENT = "cpus:32;mem:65536;disk:100000;ports:[31000-32000]";

export async function benchAllocator(opts: AllocatorBenchOptions): Promise<AllocatorBenchResult> {
  for (const k of ["agents", "frameworks", "tasks"] as const) {
    if (!Number.isInteger(opts[k]) || opts[k] <= 0) {
      throw new Error(`${k}: ${opts[k]} is not a positive integer`);
    }
  }
  const t = opts.taskResources;
  if (!(t.cpus > 0 || t.mem > 0)) throw new Error("taskResources: a task needs cpus > 0 or mem > 0");
  const agentResources = opts.agentResources ?? parseResources(DEFAULT_AGENT);
  const minCycles = opts.minCycles ?? 20;
  const maxRounds = opts.maxRounds ?? 20;

  // One cluster for every round, as in a running master: a round places T tasks, then they
  // all finish (untimed) and the frameworks revive for the next round. The first round is
  // an untimed warm-up: it compiles the hot paths and grows the allocator's maps to size.
  const cluster = new BenchCluster(opts.agents, opts.frameworks, agentResources, opts.seed ?? 1);
  cluster.place(opts.tasks, t);
  cluster.finishAll();
  const cycleMs: number[] = [];
  let placed = 0;
  let elapsedMs = 0;
  let rounds = 0;
  for (let round = 0; round < maxRounds && (round === 0 || cycleMs.length < minCycles); round++) {
    const res = cluster.place(opts.tasks, t);
    placed += res.placed;
    elapsedMs += res.elapsedMs;
    cycleMs.push(...res.cycleMs);
    cluster.finishAll();
    rounds++;
    // Let the event loop breathe between rounds (timers, signals).
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  cycleMs.sort((a, b) => a - b);
  return {
    placementsPerSecond: elapsedMs > 0 ? (placed / elapsedMs) * 1000 : 0,
    cycleP50Ms: percentile(cycleMs, 0.5),
    cycleP99Ms: percentile(cycleMs, 0.99),
    cycles: cycleMs.length,
    rounds,
    placed,
  };
}

/** A synthetic cluster driven the way the master drives the allocator and the offer book. */
class BenchCluster {
  private readonly allocator: Allocator;
  private readonly book: OfferBook;
  private readonly frameworkIds: string[] = [];
  private readonly launched: { agentId: string; frameworkId: string; used: Resources }[] = [];
  private nowMs = 0;

  constructor(agents: number, frameworks: number, agentResources: Resources, seed: number) {
    this.allocator = new Allocator({ seed });
    let n = 0;
    this.book = new OfferBook({ newId: () => `offer-${++n}` });
    for (let i = 0; i < agents; i++) this.allocator.addAgent({ id: `agent-${i}`, total: agentResources });
    for (let f = 0; f < frameworks; f++) {
      this.frameworkIds.push(`fw-${f}`);
      this.allocator.addFramework({ id: `fw-${f}`, role: "*" });
    }
  }

  /** Cycles until `tasks` are placed (split evenly among the frameworks) or nothing fits any more. */
  place(tasks: number, task: Resources): RoundResult {
    const { allocator, book } = this;
    const remaining = new Map<string, number>();
    const frameworks = this.frameworkIds.length;
    this.frameworkIds.forEach((id, f) => {
      const share = Math.floor(tasks / frameworks) + (f < tasks % frameworks ? 1 : 0);
      remaining.set(id, share);
      if (share === 0) allocator.suppress(id);
    });
    const portsPerTask = rangesCount(task.ports);
    const has = (agentId: string, frameworkId: string) => book.has(agentId, frameworkId);
    const cycleMs: number[] = [];
    let placed = 0;
    let idleCycles = 0;
    const start = performance.now();
    while (placed < tasks && idleCycles < 3) {
      const c0 = performance.now();
      const grants = allocator.allocate(this.nowMs, has);
      cycleMs.push(performance.now() - c0);
      let placedNow = 0;
      for (const g of grants) {
        const offer = book.add(g, this.nowMs);
        const want = remaining.get(g.frameworkId)!;
        const k = Math.min(want, fits(offer.resources, task, portsPerTask));
        const used: Resources = {
          cpus: task.cpus * k,
          mem: task.mem * k,
          disk: task.disk * k,
          ports: portsToRanges(firstPorts(offer.resources.ports, portsPerTask * k)),
        };
        book.remove(offer.id);
        allocator.recover(g.agentId, g.frameworkId, subtractResources(offer.resources, used), this.nowMs, 0);
        if (k > 0) this.launched.push({ agentId: g.agentId, frameworkId: g.frameworkId, used });
        remaining.set(g.frameworkId, want - k);
        if (want - k === 0) allocator.suppress(g.frameworkId);
        placedNow += k;
      }
      placed += placedNow;
      idleCycles = placedNow === 0 ? idleCycles + 1 : 0;
      this.nowMs += 100;
    }
    return { placed, elapsedMs: performance.now() - start, cycleMs };
  }

  /** Every launched task ends: its resources go back, and the frameworks revive. */
  finishAll(): void {
    for (const l of this.launched) this.allocator.recover(l.agentId, l.frameworkId, l.used, this.nowMs, 0);
    this.launched.length = 0;
    for (const id of this.frameworkIds) this.allocator.revive(id);
  }
}

/** How many copies of `task` fit in `have`. */
function fits(have: Resources, task: Resources, portsPerTask: number): number {
  let k = Number.POSITIVE_INFINITY;
  if (task.cpus > 0) k = Math.min(k, Math.floor(have.cpus / task.cpus + 1e-9));
  if (task.mem > 0) k = Math.min(k, Math.floor(have.mem / task.mem + 1e-9));
  if (task.disk > 0) k = Math.min(k, Math.floor(have.disk / task.disk + 1e-9));
  if (portsPerTask > 0) k = Math.min(k, Math.floor(rangesCount(have.ports) / portsPerTask));
  return Number.isFinite(k) ? k : 0;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const opts = {
    agents: 10_000,
    frameworks: 10,
    tasks: 100_000,
    taskResources: parseResources("cpus:0.5;mem:512"),
  };
  const res = await benchAllocator(opts);
  process.stdout.write(
    `allocator: ${opts.tasks} tasks on ${opts.agents} agents by ${opts.frameworks} frameworks: ` +
      `${Math.round(res.placementsPerSecond)} placements/s, cycle p50 ${res.cycleP50Ms.toFixed(2)} ms, ` +
      `p99 ${res.cycleP99Ms.toFixed(2)} ms (${res.cycles} cycles)\n`,
  );
  if (res.placed < res.rounds * opts.tasks) {
    process.stdout.write(
      `allocator: only ${res.placed} of ${res.rounds * opts.tasks} tasks fit in the cluster\n`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`allocator bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  });
}
