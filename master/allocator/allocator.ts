// The master's allocator: which framework is offered an agent's free resources. Pure: time
// comes in as `nowMs`, randomness from a seed, offers leave as returned grants (the shell
// turns them into OFFERS events and OfferBook entries). Same seed + same calls = same grants.
//
// Order for one agent (Mesos's hierarchical DRF):
//   1. roles below their quota (on the scalars the quota names), fairest role first;
//   2. then every other role by weighted DRF, as long as the cluster keeps enough free
//      resources on other agents to still satisfy the unmet quotas (the headroom, as in
//      Mesos: quota is a guarantee, so it is held back even when its role has nobody to
//      take it right now);
//   3. within a role, frameworks by DRF.
// Skipped: inactive or suppressed frameworks, (framework, agent) pairs under a refuse filter
// or holding an outstanding offer. The first framework left gets ALL the agent's free
// resources; they count as allocated to it until recover()ed (or forever, as tasks).
//
// Cost: agents with nothing to offer are not in the index and cost nothing per cycle; a
// visited agent costs a few map lookups plus an in-place re-sort of nearly sorted sorters.
import { InvalidArgumentError } from "../../common/errors.js";
import {
  addResources,
  cloneResources,
  emptyResources,
  type Range,
  rangesSubtract,
  type Resources,
  SCALAR_NAMES,
  subtractResources,
} from "../../common/resources.js";
import { DrfSorter, SorterTotals } from "./drf-sorter.js";
import { AllocatorReason, type AllocatorReasonCode } from "./reasons.js";
import { SeededRandom } from "../../common/seeded-random.js";

export interface OfferGrant {
  frameworkId: string;
  agentId: string;
  resources: Resources;
}

export interface AllocatorInit {
  /** Seed of the agent shuffle. Default 1. */
  seed?: number;
  /** Refuse filter of recover() when none is given (the protocol's default). Default 5. */
  defaultRefuseSeconds?: number;
  /** An agent is offered only when it has at least this much cpus OR mem free (Mesos's defaults). */
  minAllocatable?: { cpus: number; mem: number };
}

export type HasOutstandingOffer = (agentId: string, frameworkId: string) => boolean;

/** Why the master's offers to one framework are what they are ("why pending", the master's half). */
export interface FrameworkOfferView {
  active: boolean;
  suppressed: boolean;
  role: string;
  dominantShare: number;
  /** The latest end of its live refuse filters (ms), 0 when none. */
  filteredUntilMs: number;
  /** Every agent, counted under the first reason it is not offered to the framework now. */
  agents: Map<FrameworkAgentReason, number>;
}

/**
 * Per agent, from the framework's side: offered_to_it (it holds an offer there), the agent's own
 * state (draining, disk_pressure, inactive, no_resources), filtered (its own refuse filter),
 * then how the last cycle went for the agent: offered_elsewhere (a framework ahead of it in the
 * DRF order, or an outstanding offer of another), quota (held back for a role below its quota),
 * pending (free, not looked at since).
 */
export type FrameworkAgentReason =
  | "offered_to_it"
  | "draining"
  | "disk_pressure"
  | "inactive"
  | "no_resources"
  | "filtered"
  | "offered_elsewhere"
  | "quota"
  | "pending";

interface Scalars {
  cpus: number;
  mem: number;
  disk: number;
}

interface AgentState {
  readonly id: string;
  readonly total: Resources;
  /** Free: total minus everything in `held`. */
  available: Resources;
  draining: boolean;
  /** Reported by the agent; like draining, it holds what it has and gets no new offers. */
  diskPressure: boolean;
  active: boolean;
  /** In the index and in the free sums: active, not draining, no disk pressure, and enough free. */
  offerable: boolean;
  /** What each framework holds here (offers + tasks), known frameworks or not. */
  readonly held: Map<string, Resources>;
  visitCycle: number;
  /** Outcome of the last visit: null when it got an offer. */
  reason: AllocatorReasonCode | null;
  stamp: number;
}

interface FrameworkState {
  readonly id: string;
  role: RoleState;
  active: boolean;
  suppressed: boolean;
  /** agentId → refuse filter end (ms). */
  readonly filters: Map<string, number>;
  /** Agents where this framework holds something. */
  readonly agents: Set<string>;
}

interface RoleState {
  readonly name: string;
  quota: Scalars | undefined;
  quotaUnmet: boolean;
  /** DRF among the role's frameworks. */
  readonly sorter: DrfSorter;
}

/** Longest refuse filter honoured (Mesos caps at a year as well). */
const MAX_REFUSE_SECONDS = 365 * 24 * 3600;
const EPSILON = 1e-9;

export class Allocator {
  private readonly agents = new Map<string, AgentState>();
  private readonly frameworks = new Map<string, FrameworkState>();
  private readonly roles = new Map<string, RoleState>();
  private readonly totals = new SorterTotals();
  private readonly roleSorter = new DrfSorter({ totals: this.totals, perAgent: false });
  /** Allocations recorded (addUsed) for frameworks not added yet: fwId → agentIds. */
  private readonly orphans = new Map<string, Set<string>>();
  /** Agents with something to offer, in insertion order (the shuffle's input). */
  private readonly index = new Set<AgentState>();
  private readonly free: Scalars = { cpus: 0, mem: 0, disk: 0 };
  private readonly need: Scalars = { cpus: 0, mem: 0, disk: 0 };
  private needAny = false;
  private unmetRoles = 0;
  private quotaDirty = false;
  private readonly random: SeededRandom;
  private readonly defaultRefuseSeconds: number;
  private readonly minCpus: number;
  private readonly minMem: number;
  private cycle = 0;
  private stamp = 0;
  private readonly scratch: AgentState[] = [];
  // Per-visit findings, fields rather than locals so that helpers need no closures.
  private sawFiltered = false;
  private sawOffer = false;

  constructor(init: AllocatorInit = {}) {
    this.random = new SeededRandom(init.seed ?? 1);
    this.defaultRefuseSeconds = init.defaultRefuseSeconds ?? 5;
    this.minCpus = init.minAllocatable?.cpus ?? 0.01;
    this.minMem = init.minAllocatable?.mem ?? 32;
  }

  addAgent(agent: { id: string; total: Resources; draining?: boolean }): void {
    if (this.agents.has(agent.id)) throw new Error(`agent ${agent.id} is already in the allocator`);
    const a: AgentState = {
      id: agent.id,
      total: cloneResources(agent.total),
      available: cloneResources(agent.total),
      draining: agent.draining ?? false,
      diskPressure: false,
      active: true,
      offerable: false,
      held: new Map(),
      visitCycle: -1,
      reason: null,
      stamp: 0,
    };
    this.agents.set(a.id, a);
    this.totals.add(a.id, a.total);
    this.attach(a);
  }

  /** Forgets the agent and all allocations on it. */
  removeAgent(agentId: string): void {
    const a = this.agents.get(agentId);
    if (!a) return;
    this.detach(a);
    for (const [fwId, r] of a.held) {
      const fw = this.frameworks.get(fwId);
      if (fw) {
        this.unrecord(fw, agentId, r);
        fw.agents.delete(agentId);
      } else {
        this.orphans.get(fwId)?.delete(agentId);
      }
    }
    for (const fw of this.frameworks.values()) fw.filters.delete(agentId);
    this.totals.remove(agentId, a.total);
    this.agents.delete(agentId);
  }

  /** Draining agents get no new offers; what they hold stays held. */
  setAgentDraining(agentId: string, draining: boolean): void {
    const a = this.mustAgent(agentId);
    this.detach(a);
    a.draining = draining;
    this.attach(a);
  }

  /** Agents under disk pressure get no new offers; what they hold stays held. */
  setAgentDiskPressure(agentId: string, pressure: boolean): void {
    const a = this.mustAgent(agentId);
    this.detach(a);
    a.diskPressure = pressure;
    this.attach(a);
  }

  /** Disconnected agents get no offers but keep their allocations. */
  setAgentActive(agentId: string, active: boolean): void {
    const a = this.mustAgent(agentId);
    this.detach(a);
    a.active = active;
    this.attach(a);
  }

  /** Adds a framework; for a known id, updates its role and flags (its allocations follow). */
  addFramework(fw: { id: string; role: string; active?: boolean; suppressed?: boolean }): void {
    const known = this.frameworks.get(fw.id);
    if (known) {
      if (known.role.name !== fw.role) {
        const held = [...known.agents].map((id) => [id, this.agents.get(id)!.held.get(fw.id)!] as const);
        for (const [agentId, r] of held) this.unrecord(known, agentId, r);
        known.role.sorter.remove(fw.id);
        this.markQuota(known.role);
        known.role = this.role(fw.role);
        known.role.sorter.add(fw.id);
        for (const [agentId, r] of held) this.record(known, agentId, r);
      }
      known.active = fw.active ?? known.active;
      known.suppressed = fw.suppressed ?? known.suppressed;
      this.syncActivation(known);
      return;
    }
    const state: FrameworkState = {
      id: fw.id,
      role: this.role(fw.role),
      active: fw.active ?? true,
      suppressed: fw.suppressed ?? false,
      filters: new Map(),
      agents: new Set(),
    };
    this.frameworks.set(fw.id, state);
    state.role.sorter.add(fw.id);
    // Tasks of this framework found before it (re-)subscribed now count for it.
    const early = this.orphans.get(fw.id);
    if (early) {
      this.orphans.delete(fw.id);
      for (const agentId of early) {
        const r = this.agents.get(agentId)?.held.get(fw.id);
        if (r) {
          state.agents.add(agentId);
          this.record(state, agentId, r);
        }
      }
    }
    this.syncActivation(state);
  }

  /** Forgets the framework's allocations: they return to the pool (the caller kills its tasks). */
  removeFramework(frameworkId: string): void {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return;
    for (const agentId of fw.agents) {
      const a = this.agents.get(agentId)!;
      const r = a.held.get(frameworkId)!;
      a.held.delete(frameworkId);
      this.roleSorter.unallocated(fw.role.name, agentId, r);
      this.detach(a);
      a.available = addResources(a.available, r);
      this.attach(a);
    }
    fw.role.sorter.remove(frameworkId);
    this.markQuota(fw.role);
    this.frameworks.delete(frameworkId);
  }

  /** Disconnected frameworks get no offers. */
  setFrameworkActive(frameworkId: string, active: boolean): void {
    const fw = this.mustFramework(frameworkId);
    fw.active = active;
    this.syncActivation(fw);
  }

  /** Weight (default 1) and quota (guaranteed minimum of cpus, mem, disk) of a role. */
  setRole(role: string, opts: { weight?: number; quota?: Partial<Resources> }): void {
    if (opts.weight !== undefined && (!Number.isFinite(opts.weight) || opts.weight <= 0)) {
      throw new InvalidArgumentError("weight", `${opts.weight} is not a positive number (role "${role}")`);
    }
    let quota: Scalars | undefined;
    if (opts.quota) {
      quota = { cpus: 0, mem: 0, disk: 0 };
      for (const s of SCALAR_NAMES) {
        const v = opts.quota[s] ?? 0;
        if (!Number.isFinite(v) || v < 0) {
          throw new InvalidArgumentError(`quota.${s}`, `${v} is not a non-negative number (role "${role}")`);
        }
        quota[s] = v;
      }
      if (quota.cpus === 0 && quota.mem === 0 && quota.disk === 0) quota = undefined;
    }
    const r = this.role(role);
    if (opts.weight !== undefined) this.roleSorter.setWeight(role, opts.weight);
    if (opts.quota !== undefined) r.quota = quota;
    this.quotaDirty = true;
  }

  /**
   * Resources of tasks found at recovery or re-registration count as allocated. Takes at most
   * what the agent has free; the framework need not be added yet.
   */
  addUsed(agentId: string, frameworkId: string, resources: Resources): void {
    const a = this.mustAgent(agentId);
    const taken = intersect(resources, a.available);
    this.detach(a);
    a.available = subtractResources(a.available, taken);
    this.attach(a);
    this.hold(a, frameworkId, taken);
  }

  /**
   * Returns resources to the pool (at most what the framework holds there). A positive
   * refuseSeconds (default: defaultRefuseSeconds) keeps this agent from this framework until
   * nowMs + refuseSeconds * 1000. Unknown agents are ignored: their resources left with them.
   */
  recover(
    agentId: string,
    frameworkId: string,
    resources: Resources,
    nowMs: number,
    refuseSeconds?: number,
  ): void {
    const a = this.agents.get(agentId);
    if (!a) return;
    const fw = this.frameworks.get(frameworkId);
    const held = a.held.get(frameworkId);
    if (held) {
      const back = intersect(resources, held);
      const rest = subtractResources(held, back);
      if (isZero(rest)) {
        a.held.delete(frameworkId);
        fw?.agents.delete(agentId);
        this.orphans.get(frameworkId)?.delete(agentId);
      } else {
        a.held.set(frameworkId, rest);
      }
      if (fw) this.unrecord(fw, agentId, back);
      this.detach(a);
      a.available = addResources(a.available, back);
      this.attach(a);
    }
    const refuse = refuseSeconds ?? this.defaultRefuseSeconds;
    // NaN and negatives mean no filter; Infinity and huge values are capped.
    if (fw && refuse > 0) fw.filters.set(agentId, nowMs + Math.min(refuse, MAX_REFUSE_SECONDS) * 1000);
  }

  suppress(frameworkId: string): void {
    const fw = this.mustFramework(frameworkId);
    fw.suppressed = true;
    this.syncActivation(fw);
  }

  /** Un-suppresses and clears the framework's filters. */
  revive(frameworkId: string): void {
    const fw = this.mustFramework(frameworkId);
    fw.suppressed = false;
    fw.filters.clear();
    this.syncActivation(fw);
  }

  /** One allocation cycle over every agent with something to offer, in a seeded order. */
  allocate(nowMs: number, hasOutstandingOffer: HasOutstandingOffer): OfferGrant[] {
    this.cycle++;
    const list = this.scratch;
    list.length = 0;
    for (const a of this.index) list.push(a);
    return this.run(list, nowMs, hasOutstandingOffer);
  }

  /** Allocates only these agents (right after an agent joins or resources come back). */
  allocateAgents(
    agentIds: Iterable<string>,
    nowMs: number,
    hasOutstandingOffer: HasOutstandingOffer,
  ): OfferGrant[] {
    const stamp = ++this.stamp;
    const list = this.scratch;
    list.length = 0;
    for (const id of agentIds) {
      const a = this.agents.get(id);
      if (!a || a.stamp === stamp) continue;
      a.stamp = stamp;
      if (a.offerable) list.push(a);
    }
    return this.run(list, nowMs, hasOutstandingOffer);
  }

  /** Free resources of an agent (a copy). */
  available(agentId: string): Resources {
    const a = this.agents.get(agentId);
    return a ? cloneResources(a.available) : emptyResources();
  }

  frameworkAllocation(frameworkId: string): Resources {
    const fw = this.frameworks.get(frameworkId);
    let sum = emptyResources();
    if (fw)
      for (const agentId of fw.agents)
        sum = addResources(sum, this.agents.get(agentId)!.held.get(frameworkId)!);
    return sum;
  }

  /** The framework's dominant share of the cluster, in [0, 1]. */
  dominantShare(frameworkId: string): number {
    const fw = this.frameworks.get(frameworkId);
    return fw ? fw.role.sorter.dominantShare(frameworkId) : 0;
  }

  /** The role's dominant share of the cluster (unweighted), in [0, 1]. */
  roleShare(role: string): number {
    return this.roleSorter.dominantShare(role);
  }

  /** Why the framework is (not) offered each agent now; undefined for a framework not known. */
  explainFramework(
    frameworkId: string,
    nowMs: number,
    has: HasOutstandingOffer,
  ): FrameworkOfferView | undefined {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) return undefined;
    const agents = new Map<FrameworkAgentReason, number>();
    let filteredUntilMs = 0;
    for (const a of this.agents.values()) {
      const until = fw.filters.get(a.id) ?? 0;
      const reason = this.agentReasonFor(fw, a, until > nowMs, has);
      if (reason === "filtered") filteredUntilMs = Math.max(filteredUntilMs, until);
      agents.set(reason, (agents.get(reason) ?? 0) + 1);
    }
    return {
      active: fw.active,
      suppressed: fw.suppressed,
      role: fw.role.name,
      dominantShare: fw.role.sorter.dominantShare(fw.id),
      filteredUntilMs,
      agents,
    };
  }

  private agentReasonFor(
    fw: FrameworkState,
    a: AgentState,
    filtered: boolean,
    has: HasOutstandingOffer,
  ): FrameworkAgentReason {
    if (has(a.id, fw.id)) return "offered_to_it";
    if (a.draining) return "draining";
    if (a.diskPressure) return "disk_pressure";
    if (!a.active) return "inactive";
    if (!a.offerable) return "no_resources";
    if (filtered) return "filtered";
    if (a.visitCycle !== this.cycle) return "pending";
    switch (a.reason) {
      case AllocatorReason.QUOTA:
        return "quota";
      case AllocatorReason.OUTSTANDING_OFFER:
      case null:
        return "offered_elsewhere";
      default:
        // no_frameworks / all_filtered while this framework was not filtered: it could not be
        // offered anything (inactive or suppressed), which the framework's own fields say.
        return "pending";
    }
  }

  /**
   * Why each agent got no offer in the last cycle (agents that got one are absent). Agents
   * the cycle did not look at are described by their state now: draining, disk pressure, inactive,
   * no_resources, or pending (free resources that came back after the cycle).
   */
  lastCycleReasons(): Map<string, string> {
    const out = new Map<string, string>();
    for (const a of this.agents.values()) {
      if (a.visitCycle === this.cycle) {
        if (a.reason !== null) out.set(a.id, a.reason);
      } else if (a.draining) {
        out.set(a.id, AllocatorReason.DRAINING);
      } else if (a.diskPressure) {
        out.set(a.id, AllocatorReason.DISK_PRESSURE);
      } else if (!a.active) {
        out.set(a.id, AllocatorReason.INACTIVE);
      } else {
        out.set(a.id, a.offerable ? AllocatorReason.PENDING : AllocatorReason.NO_RESOURCES);
      }
    }
    return out;
  }

  private run(list: AgentState[], nowMs: number, has: HasOutstandingOffer): OfferGrant[] {
    this.random.shuffle(list);
    const grants: OfferGrant[] = [];
    for (const a of list) {
      if (a.offerable) this.visit(a, nowMs, has, grants);
    }
    list.length = 0;
    return grants;
  }

  private visit(a: AgentState, nowMs: number, has: HasOutstandingOffer, grants: OfferGrant[]): void {
    a.visitCycle = this.cycle;
    if (this.quotaDirty) this.refreshQuota();
    this.sawFiltered = false;
    this.sawOffer = false;
    let chosen: FrameworkState | undefined;
    let heldForQuota = false;
    const roleNames = this.roleSorter.sortedView();
    if (this.unmetRoles > 0) {
      for (let i = 0; i < roleNames.length && !chosen; i++) {
        const role = this.roles.get(roleNames[i]!)!;
        if (role.quotaUnmet) chosen = this.pick(role, a, nowMs, has);
      }
    }
    if (!chosen) {
      if (this.needAny && !this.headroomAllows(a)) {
        heldForQuota = true;
      } else {
        for (let i = 0; i < roleNames.length && !chosen; i++) {
          const role = this.roles.get(roleNames[i]!)!;
          if (!role.quotaUnmet) chosen = this.pick(role, a, nowMs, has);
        }
      }
    }
    if (!chosen) {
      a.reason = heldForQuota
        ? AllocatorReason.QUOTA
        : this.sawFiltered
          ? AllocatorReason.ALL_FILTERED
          : this.sawOffer
            ? AllocatorReason.OUTSTANDING_OFFER
            : AllocatorReason.NO_FRAMEWORKS;
      return;
    }
    const r = a.available;
    this.detach(a);
    a.available = emptyResources();
    this.attach(a);
    this.hold(a, chosen.id, r);
    a.reason = null;
    grants.push({ frameworkId: chosen.id, agentId: a.id, resources: r });
  }

  /** The fairest framework of the role that may be offered this agent now. */
  private pick(
    role: RoleState,
    a: AgentState,
    nowMs: number,
    has: HasOutstandingOffer,
  ): FrameworkState | undefined {
    const ids = role.sorter.sortedView();
    for (let i = 0; i < ids.length; i++) {
      const fw = this.frameworks.get(ids[i]!)!;
      const until = fw.filters.get(a.id);
      if (until !== undefined) {
        if (until > nowMs) {
          this.sawFiltered = true;
          continue;
        }
        fw.filters.delete(a.id);
      }
      if (has(a.id, fw.id)) {
        this.sawOffer = true;
        continue;
      }
      return fw;
    }
    return undefined;
  }

  /** True when giving away this agent's free scalars still leaves the unmet quotas coverable. */
  private headroomAllows(a: AgentState): boolean {
    const f = this.free;
    const n = this.need;
    const r = a.available;
    return (
      f.cpus - r.cpus >= n.cpus - EPSILON &&
      f.mem - r.mem >= n.mem - EPSILON &&
      f.disk - r.disk >= n.disk - EPSILON
    );
  }

  private refreshQuota(): void {
    this.quotaDirty = false;
    this.need.cpus = 0;
    this.need.mem = 0;
    this.need.disk = 0;
    this.unmetRoles = 0;
    for (const role of this.roles.values()) {
      role.quotaUnmet = false;
      const q = role.quota;
      if (!q) continue;
      const held = this.roleSorter.allocatedScalars(role.name);
      for (const s of SCALAR_NAMES) {
        const gap = q[s] - held[s];
        if (gap > EPSILON) {
          role.quotaUnmet = true;
          this.need[s] += gap;
        }
      }
      if (role.quotaUnmet) this.unmetRoles++;
    }
    this.needAny = this.need.cpus > EPSILON || this.need.mem > EPSILON || this.need.disk > EPSILON;
  }

  /** Adds `r` to what the framework holds on the agent (the agent's free part is the caller's). */
  private hold(a: AgentState, frameworkId: string, r: Resources): void {
    const prev = a.held.get(frameworkId);
    a.held.set(frameworkId, prev ? addResources(prev, r) : cloneResources(r));
    const fw = this.frameworks.get(frameworkId);
    if (fw) {
      fw.agents.add(a.id);
      this.record(fw, a.id, r);
    } else {
      let set = this.orphans.get(frameworkId);
      if (!set) {
        set = new Set();
        this.orphans.set(frameworkId, set);
      }
      set.add(a.id);
    }
  }

  private record(fw: FrameworkState, agentId: string, r: Resources): void {
    fw.role.sorter.allocated(fw.id, agentId, r);
    this.roleSorter.allocated(fw.role.name, agentId, r);
    this.markQuota(fw.role);
  }

  private unrecord(fw: FrameworkState, agentId: string, r: Resources): void {
    fw.role.sorter.unallocated(fw.id, agentId, r);
    this.roleSorter.unallocated(fw.role.name, agentId, r);
    this.markQuota(fw.role);
  }

  private markQuota(role: RoleState): void {
    if (role.quota || role.quotaUnmet) this.quotaDirty = true;
  }

  private syncActivation(fw: FrameworkState): void {
    if (fw.active && !fw.suppressed) fw.role.sorter.activate(fw.id);
    else fw.role.sorter.deactivate(fw.id);
  }

  private role(name: string): RoleState {
    let r = this.roles.get(name);
    if (!r) {
      r = {
        name,
        quota: undefined,
        quotaUnmet: false,
        sorter: new DrfSorter({ totals: this.totals, perAgent: false }),
      };
      this.roles.set(name, r);
      this.roleSorter.add(name);
    }
    return r;
  }

  /** Takes the agent out of the index and the free sums before its state changes. */
  private detach(a: AgentState): void {
    if (!a.offerable) return;
    a.offerable = false;
    this.index.delete(a);
    this.free.cpus -= a.available.cpus;
    this.free.mem -= a.available.mem;
    this.free.disk -= a.available.disk;
  }

  /** Puts the agent back into the index and the free sums if it can be offered. */
  private attach(a: AgentState): void {
    const r = a.available;
    a.offerable =
      a.active && !a.draining && !a.diskPressure && (r.cpus >= this.minCpus || r.mem >= this.minMem);
    if (!a.offerable) return;
    this.index.add(a);
    this.free.cpus += r.cpus;
    this.free.mem += r.mem;
    this.free.disk += r.disk;
  }

  private mustAgent(agentId: string): AgentState {
    const a = this.agents.get(agentId);
    if (!a) throw new Error(`allocator has no agent ${agentId}`);
    return a;
  }

  private mustFramework(frameworkId: string): FrameworkState {
    const fw = this.frameworks.get(frameworkId);
    if (!fw) throw new Error(`allocator has no framework ${frameworkId}`);
    return fw;
  }
}

/** a ∩ b: the smaller of each scalar, the ports in both. */
function intersect(a: Resources, b: Resources): Resources {
  return {
    cpus: Math.min(a.cpus, b.cpus),
    mem: Math.min(a.mem, b.mem),
    disk: Math.min(a.disk, b.disk),
    ports: intersectRanges(a.ports, b.ports),
  };
}

function intersectRanges(a: readonly Range[], b: readonly Range[]): Range[] {
  if (a.length === 0 || b.length === 0) return [];
  return rangesSubtract(a, rangesSubtract(a, b));
}

function isZero(r: Resources): boolean {
  return r.cpus <= EPSILON && r.mem <= EPSILON && r.disk <= EPSILON && r.ports.length === 0;
}
