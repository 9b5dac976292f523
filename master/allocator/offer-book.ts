// Outstanding offers: what the master has offered and not yet seen accepted, declined,
// rescinded or timed out. Pure bookkeeping over plain data; the caller returns the resources
// of a removed offer to the allocator. Indexed three ways so that the allocator's "does this
// framework already hold an offer on this agent" question is O(1) in its hot loop.
import { newId } from "../../common/ids.js";
import { cloneResources, type Resources } from "../../common/resources.js";
import type { OfferGrant } from "./allocator.js";

export interface OfferRecord {
  id: string;
  frameworkId: string;
  agentId: string;
  resources: Resources;
  createdAtMs: number;
  expiresAtMs: number;
}

export interface OfferBookInit {
  /** How long an offer stays valid. Default 30 s. */
  offerTimeoutMs?: number;
  newId?: () => string;
}

export class OfferBook {
  private readonly offerTimeoutMs: number;
  private readonly newId: () => string;
  /** In insertion order, which is expiry order while `ordered` holds. */
  private readonly byId = new Map<string, OfferRecord>();
  private readonly byAgent = new Map<string, Map<string, OfferRecord>>();
  private readonly byFramework = new Map<string, Map<string, OfferRecord>>();
  /** agentId → frameworkId → number of offers (one, unless the caller doubles up). */
  private readonly pairs = new Map<string, Map<string, number>>();
  /** True while every offer was added with an expiry no earlier than the one before. */
  private ordered = true;
  private lastExpiry = Number.NEGATIVE_INFINITY;

  constructor(init: OfferBookInit = {}) {
    const timeout = init.offerTimeoutMs ?? 30_000;
    if (!Number.isFinite(timeout) || timeout <= 0) {
      throw new Error(`offerTimeoutMs: ${timeout} is not a positive number`);
    }
    this.offerTimeoutMs = timeout;
    this.newId = init.newId ?? (() => newId("offer"));
  }

  /** Records a grant as an offer valid until nowMs + the offer timeout. */
  add(grant: OfferGrant, nowMs: number): OfferRecord {
    const id = this.newId();
    if (this.byId.has(id)) throw new Error(`offer id ${id} is already in the book`);
    const rec: OfferRecord = {
      id,
      frameworkId: grant.frameworkId,
      agentId: grant.agentId,
      resources: cloneResources(grant.resources),
      createdAtMs: nowMs,
      expiresAtMs: nowMs + this.offerTimeoutMs,
    };
    if (rec.expiresAtMs < this.lastExpiry) this.ordered = false;
    this.lastExpiry = Math.max(this.lastExpiry, rec.expiresAtMs);
    this.byId.set(id, rec);
    inner(this.byAgent, rec.agentId).set(id, rec);
    inner(this.byFramework, rec.frameworkId).set(id, rec);
    const pair = inner(this.pairs, rec.agentId);
    pair.set(rec.frameworkId, (pair.get(rec.frameworkId) ?? 0) + 1);
    return rec;
  }

  get(offerId: string): OfferRecord | undefined {
    return this.byId.get(offerId);
  }

  /** Forgets the offer and returns it (undefined when it was not outstanding). */
  remove(offerId: string): OfferRecord | undefined {
    const rec = this.byId.get(offerId);
    if (!rec) return undefined;
    this.byId.delete(offerId);
    dropInner(this.byAgent, rec.agentId, offerId);
    dropInner(this.byFramework, rec.frameworkId, offerId);
    const pair = this.pairs.get(rec.agentId)!;
    const n = pair.get(rec.frameworkId)! - 1;
    if (n > 0) pair.set(rec.frameworkId, n);
    else pair.delete(rec.frameworkId);
    if (pair.size === 0) this.pairs.delete(rec.agentId);
    if (this.byId.size === 0) {
      this.ordered = true;
      this.lastExpiry = Number.NEGATIVE_INFINITY;
    }
    return rec;
  }

  /** True when the framework holds an offer on the agent. O(1). */
  has(agentId: string, frameworkId: string): boolean {
    return this.pairs.get(agentId)?.has(frameworkId) ?? false;
  }

  forAgent(agentId: string): OfferRecord[] {
    const m = this.byAgent.get(agentId);
    return m ? [...m.values()] : [];
  }

  forFramework(frameworkId: string): OfferRecord[] {
    const m = this.byFramework.get(frameworkId);
    return m ? [...m.values()] : [];
  }

  /** Offers whose expiry is at or before nowMs, oldest first. Does not remove them. */
  expired(nowMs: number): OfferRecord[] {
    const out: OfferRecord[] = [];
    for (const rec of this.byId.values()) {
      if (rec.expiresAtMs <= nowMs) out.push(rec);
      else if (this.ordered) break; // the rest expire later
    }
    if (!this.ordered) out.sort((a, b) => a.expiresAtMs - b.expiresAtMs);
    return out;
  }

  size(): number {
    return this.byId.size;
  }

  all(): OfferRecord[] {
    return [...this.byId.values()];
  }
}

function inner<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key);
  if (!m) {
    m = new Map();
    outer.set(key, m);
  }
  return m;
}

function dropInner<V>(outer: Map<string, Map<string, V>>, key: string, innerKey: string): void {
  const m = outer.get(key);
  if (!m) return;
  m.delete(innerKey);
  if (m.size === 0) outer.delete(key);
}
