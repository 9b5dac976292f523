// Dominant Resource Fairness sorter, after Mesos's Sorter: clients (roles or frameworks)
// with weights, the cluster's totals, and what each client holds on each agent. sort()
// answers "who should be offered next": weighted dominant share ascending.
//
// Contracts:
// - dominant share = max over the scalars (cpus, mem, disk) of allocated / total; resources
//   the cluster has none of are ignored. Port ranges do not count, as in Mesos.
// - order: share / weight ascending, then the number of allocations made to the client
//   (allocated() calls, never decremented: who was served less often goes first), then name.
// - only active clients are sorted; inactive ones keep their allocations and shares.
// - several sorters can share one SorterTotals (the allocator's role sorter and every
//   per-role framework sorter do), so that an agent's resources are added once.
// Pure: no I/O, no clocks. Shares are recomputed incrementally: a change of one client's
// allocation re-sorts a nearly sorted array in place; a change of totals recomputes all.
import {
  addResources,
  cloneResources,
  emptyResources,
  isEmptyResources,
  type Resources,
  subtractResources,
} from "../../common/resources.js";

/** Scalars below this are rounding residue and count as zero. */
const EPSILON = 1e-9;

/** Totals of the cluster's scalars, per agent and summed; `version` changes on every update. */
export class SorterTotals {
  cpus = 0;
  mem = 0;
  disk = 0;
  version = 0;
  private readonly byAgent = new Map<string, Resources>();

  add(agentId: string, r: Resources): void {
    const prev = this.byAgent.get(agentId);
    this.byAgent.set(agentId, prev ? addResources(prev, r) : cloneResources(r));
    this.cpus += r.cpus;
    this.mem += r.mem;
    this.disk += r.disk;
    this.version++;
  }

  /** Takes `r` away from the agent's total (at most what it had); forgets an emptied agent. */
  remove(agentId: string, r: Resources): void {
    const prev = this.byAgent.get(agentId);
    if (!prev) return;
    const next = subtractResources(prev, r);
    this.cpus = clamp(this.cpus - (prev.cpus - next.cpus));
    this.mem = clamp(this.mem - (prev.mem - next.mem));
    this.disk = clamp(this.disk - (prev.disk - next.disk));
    if (isEmptyResources(next)) this.byAgent.delete(agentId);
    else this.byAgent.set(agentId, next);
    this.version++;
  }

  agentTotal(agentId: string): Resources | undefined {
    return this.byAgent.get(agentId);
  }
}

interface Client {
  readonly name: string;
  weight: number;
  active: boolean;
  cpus: number;
  mem: number;
  disk: number;
  readonly byAgent: Map<string, Resources>;
  /** allocated() calls so far: the first tie-break. */
  allocations: number;
  share: number;
  /** Position in `sorted` when active, else -1. */
  index: number;
}

export class DrfSorter {
  private readonly clients = new Map<string, Client>();
  private readonly totals: SorterTotals;
  /** Active clients, sorted when `dirty` is empty and `seenVersion` matches the totals. */
  private readonly sorted: Client[] = [];
  private readonly names: string[] = [];
  private readonly dirty = new Set<Client>();
  private seenVersion = -1;
  private needsFullSort = true;
  private readonly perAgent: boolean;

  /**
   * `totals`: shared with other sorters, else its own. `perAgent: false` keeps only each
   * client's summed scalars, for a caller that tracks per-agent holdings itself (the
   * allocator does, and saves two copies per grant); allocation() then reports no ports and
   * unallocated() trusts the caller to take back no more than it gave.
   */
  constructor(init: { totals?: SorterTotals; perAgent?: boolean } = {}) {
    this.totals = init.totals ?? new SorterTotals();
    this.perAgent = init.perAgent ?? true;
  }

  /** Adds a client (active) with a weight (default 1); a known client only gets its weight set. */
  add(client: string, weight = 1): void {
    checkWeight(client, weight);
    const known = this.clients.get(client);
    if (known) {
      this.setWeight(client, weight);
      return;
    }
    const c: Client = {
      name: client,
      weight,
      active: true,
      cpus: 0,
      mem: 0,
      disk: 0,
      byAgent: new Map(),
      allocations: 0,
      share: 0,
      index: this.sorted.length,
    };
    this.clients.set(client, c);
    this.sorted.push(c);
    this.names.push(client);
    this.dirty.add(c);
  }

  /** Forgets the client and its allocations. */
  remove(client: string): void {
    const c = this.clients.get(client);
    if (!c) return;
    this.clients.delete(client);
    this.dirty.delete(c);
    if (c.active) this.detach(c);
  }

  has(client: string): boolean {
    return this.clients.has(client);
  }

  setWeight(client: string, weight: number): void {
    checkWeight(client, weight);
    const c = this.mustGet(client);
    c.weight = weight;
    this.dirty.add(c);
  }

  activate(client: string): void {
    const c = this.mustGet(client);
    if (c.active) return;
    c.active = true;
    c.index = this.sorted.length;
    this.sorted.push(c);
    this.names.push(c.name);
    this.dirty.add(c);
  }

  deactivate(client: string): void {
    const c = this.mustGet(client);
    if (!c.active) return;
    this.detach(c);
    c.active = false;
  }

  isActive(client: string): boolean {
    return this.clients.get(client)?.active ?? false;
  }

  addTotal(agentId: string, r: Resources): void {
    this.totals.add(agentId, r);
  }

  removeTotal(agentId: string, r: Resources): void {
    this.totals.remove(agentId, r);
  }

  /** Records that `r` on `agentId` now belongs to `client`. */
  allocated(client: string, agentId: string, r: Resources): void {
    const c = this.mustGet(client);
    if (this.perAgent) {
      const prev = c.byAgent.get(agentId);
      c.byAgent.set(agentId, prev ? addResources(prev, r) : cloneResources(r));
    }
    c.cpus += r.cpus;
    c.mem += r.mem;
    c.disk += r.disk;
    c.allocations++;
    this.dirty.add(c);
  }

  /** Takes back `r` on `agentId` from `client` (at most what it holds there). */
  unallocated(client: string, agentId: string, r: Resources): void {
    const c = this.clients.get(client);
    if (!c) return;
    if (!this.perAgent) {
      c.cpus = clamp(c.cpus - r.cpus);
      c.mem = clamp(c.mem - r.mem);
      c.disk = clamp(c.disk - r.disk);
      this.dirty.add(c);
      return;
    }
    const prev = c.byAgent.get(agentId);
    if (!prev) return;
    const next = subtractResources(prev, r);
    c.cpus = clamp(c.cpus - (prev.cpus - next.cpus));
    c.mem = clamp(c.mem - (prev.mem - next.mem));
    c.disk = clamp(c.disk - (prev.disk - next.disk));
    if (isEmptyResources(next)) c.byAgent.delete(agentId);
    else c.byAgent.set(agentId, next);
    this.dirty.add(c);
  }

  /** Forgets everything the client holds on one agent (the agent is gone); per-agent mode only. */
  unallocatedAgent(client: string, agentId: string): void {
    const held = this.clients.get(client)?.byAgent.get(agentId);
    if (held) this.unallocated(client, agentId, held);
  }

  /** Unweighted dominant share in [0, 1]. */
  dominantShare(client: string): number {
    const c = this.clients.get(client);
    return c ? this.shareOf(c) : 0;
  }

  /** Active clients, fairest-first. A fresh array the caller may keep. */
  sort(): string[] {
    return this.sortedView().slice();
  }

  /**
   * Same order as sort() without copying: the returned array is the sorter's own and is
   * valid until its next change. For hot loops.
   */
  sortedView(): readonly string[] {
    this.resort();
    return this.names;
  }

  /** Everything the client holds, summed over agents (ports included when tracked per agent). */
  allocation(client: string): Resources {
    const c = this.clients.get(client);
    if (!c) return emptyResources();
    if (!this.perAgent) return { cpus: c.cpus, mem: c.mem, disk: c.disk, ports: [] };
    let sum = emptyResources();
    for (const r of c.byAgent.values()) sum = addResources(sum, r);
    return sum;
  }

  /** The scalars the client holds, without summing ranges (cheap). */
  allocatedScalars(client: string): { cpus: number; mem: number; disk: number } {
    const c = this.clients.get(client);
    return c ? { cpus: c.cpus, mem: c.mem, disk: c.disk } : { cpus: 0, mem: 0, disk: 0 };
  }

  /** What the client holds on one agent, or undefined. */
  allocationOn(client: string, agentId: string): Resources | undefined {
    return this.clients.get(client)?.byAgent.get(agentId);
  }

  private shareOf(c: Client): number {
    const t = this.totals;
    let share = 0;
    if (t.cpus > EPSILON) share = Math.max(share, c.cpus / t.cpus);
    if (t.mem > EPSILON) share = Math.max(share, c.mem / t.mem);
    if (t.disk > EPSILON) share = Math.max(share, c.disk / t.disk);
    return share;
  }

  private resort(): void {
    if (this.seenVersion !== this.totals.version || this.needsFullSort) {
      for (const c of this.sorted) c.share = this.shareOf(c) / c.weight;
      this.sorted.sort(compare);
      this.dirty.clear();
      this.seenVersion = this.totals.version;
      this.needsFullSort = false;
      this.reindex(0);
      return;
    }
    if (this.dirty.size === 0) return;
    for (const c of this.dirty) c.share = this.shareOf(c) / c.weight;
    this.dirty.clear();
    // Insertion sort: after a few clients changed the array is nearly sorted, so this is
    // linear and allocates nothing.
    const a = this.sorted;
    let lowest = a.length;
    for (let i = 1; i < a.length; i++) {
      const x = a[i]!;
      let j = i - 1;
      if (compare(a[j]!, x) <= 0) continue;
      while (j >= 0 && compare(a[j]!, x) > 0) {
        a[j + 1] = a[j]!;
        j--;
      }
      a[j + 1] = x;
      if (j + 1 < lowest) lowest = j + 1;
    }
    this.reindex(lowest);
  }

  private reindex(from: number): void {
    const a = this.sorted;
    for (let i = from; i < a.length; i++) {
      a[i]!.index = i;
      this.names[i] = a[i]!.name;
    }
  }

  private detach(c: Client): void {
    const i = c.index;
    this.sorted.splice(i, 1);
    this.names.splice(i, 1);
    for (let k = i; k < this.sorted.length; k++) this.sorted[k]!.index = k;
    c.index = -1;
  }

  private mustGet(client: string): Client {
    const c = this.clients.get(client);
    if (!c) throw new Error(`sorter has no client "${client}"`);
    return c;
  }
}

function compare(a: Client, b: Client): number {
  if (a.share !== b.share) return a.share < b.share ? -1 : 1;
  if (a.allocations !== b.allocations) return a.allocations - b.allocations;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function checkWeight(client: string, weight: number): void {
  if (!Number.isFinite(weight) || weight <= 0) {
    throw new Error(`weight of "${client}": ${weight} is not a positive number`);
  }
}

function clamp(x: number): number {
  return x < EPSILON ? 0 : x;
}
