// Which agent holds which release, and which fetches are under way: the master's book of the
// agents' copies. Pure bookkeeping over plain data; the caller sends the fetch commands this
// book asks for and persists what `persist` is handed.
//
// Contracts (docs/protocol.md, "Distribution"):
// - stage(release, agents) marks the agents as targets of the release; every target that is
//   not DONE and not fetching already must be sent a fetch_artifact (returned to the caller).
// - An agent's registration is the truth about its cache: the releases it lists are DONE,
//   a DONE it no longer lists is gone (EVICTED), and every target not DONE is sent the fetch
//   again (it resumes from what it has).
// - Byte counts and rates change in memory only; states, errors and targets are persisted, so
//   that a master restart keeps who holds what and which stagings are still owed.
import type { StoredFetch } from "../store/registry-store.js";

export type FetchState = "PENDING" | "FETCHING" | "VERIFYING" | "DONE" | "FAILED" | "EVICTED";
/** States an agent may report (PENDING is the master's own: asked, not heard of yet). */
export const REPORTED_STATES: readonly FetchState[] = ["FETCHING", "VERIFYING", "DONE", "FAILED", "EVICTED"];

export interface FetchRecord extends StoredFetch {
  state: FetchState;
  uploaded: number;
  downloadRate: number;
  uploadRate: number;
}

export interface ProgressReport {
  release: string;
  sha256: string;
  state: string;
  downloaded: number;
  uploaded: number;
  size: number;
  downloadRate: number;
  uploadRate: number;
  error: string;
}

export interface StagingComponents {
  persist: (f: StoredFetch) => void;
  /**
   * The sha256 and size of a stored release, and whether the master's copy is corrupt;
   * undefined for releases the master lacks.
   */
  lookup: (release: string) => { sha256: string; size: number; corrupt?: boolean } | undefined;
  /** Seconds since the epoch. */
  now?: () => number;
}

export type StagingListener = (release: string) => void;

const IN_FLIGHT: ReadonlySet<FetchState> = new Set(["FETCHING", "VERIFYING"]);

export class StagingBook {
  /** release → agent id → record */
  private readonly records = new Map<string, Map<string, FetchRecord>>();
  private readonly listeners = new Set<StagingListener>();
  private readonly now: () => number;

  constructor(
    private readonly components: StagingComponents,
    initial: readonly StoredFetch[] = [],
  ) {
    this.now = components.now ?? (() => Date.now() / 1000);
    for (const f of initial) {
      if (!components.lookup(f.release)) continue;
      // Nobody is connected after a restart: what was in flight is owed again.
      const state = IN_FLIGHT.has(f.state as FetchState) ? "PENDING" : (f.state as FetchState);
      this.put({ ...f, state, uploaded: 0, downloadRate: 0, uploadRate: 0 }, false);
    }
  }

  get(release: string, agentId: string): FetchRecord | undefined {
    return this.records.get(release)?.get(agentId);
  }

  forRelease(release: string): FetchRecord[] {
    return [...(this.records.get(release)?.values() ?? [])].sort((a, b) =>
      a.agentId < b.agentId ? -1 : a.agentId > b.agentId ? 1 : 0,
    );
  }

  /** Releases the agent holds verified (for offers and for `release status`). */
  heldBy(agentId: string): string[] {
    const out: string[] = [];
    for (const [release, byAgent] of this.records)
      if (byAgent.get(agentId)?.state === "DONE") out.push(release);
    return out.sort();
  }

  /** Marks `agentIds` as targets of `release`; returns the agents that must be sent a fetch now. */
  stage(release: string, agentIds: readonly string[]): string[] {
    const info = this.components.lookup(release);
    if (!info) return [];
    const send: string[] = [];
    for (const agentId of agentIds) {
      const r = this.get(release, agentId);
      if (r?.state === "DONE") {
        if (!r.staged) this.put({ ...r, staged: true }, true);
        continue;
      }
      // Asked already (PENDING) or under way: the agent has its fetch command. One that is
      // not connected now gets it when it registers again.
      if (r && (IN_FLIGHT.has(r.state) || (r.state === "PENDING" && r.staged))) {
        if (!r.staged) this.put({ ...r, staged: true }, true);
        continue;
      }
      this.put(this.fresh(release, agentId, info.size, { state: "PENDING", staged: true }), true);
      send.push(agentId);
    }
    if (agentIds.length > 0) this.notify(release);
    return send;
  }

  /**
   * Applies a fetch_progress report. Reports for unknown releases or for other bytes than the
   * release's (a stale fetch of a removed and re-pushed release) are ignored: returns false.
   */
  progress(agentId: string, p: ProgressReport): boolean {
    const info = this.components.lookup(p.release);
    if (!info || (p.sha256 !== "" && p.sha256 !== info.sha256)) return false;
    if (!(REPORTED_STATES as readonly string[]).includes(p.state)) return false;
    // While the master's copy is corrupt its own FAILED stands; an agent that completes
    // anyway (from a peer) verified the bytes itself and counts.
    if (info.corrupt && p.state !== "DONE") return false;
    const state = p.state as FetchState;
    const before = this.get(p.release, agentId);
    const next: FetchRecord = {
      ...(before ?? this.fresh(p.release, agentId, info.size, { state, staged: false })),
      state,
      downloaded: state === "DONE" ? info.size : p.downloaded,
      uploaded: p.uploaded,
      size: p.size || info.size,
      downloadRate: p.downloadRate,
      uploadRate: p.uploadRate,
      error: state === "FAILED" ? p.error || "the agent reported a failure without a reason" : "",
      updatedAt: this.now(),
    };
    const durable = !before || before.state !== next.state || before.error !== next.error;
    this.put(next, durable);
    this.notify(p.release);
    return true;
  }

  /**
   * An agent (re-)registered holding `artifacts`. Returns the releases it must be sent a
   * fetch for: its targets that it does not hold.
   */
  registered(agentId: string, artifacts: readonly { release: string; sha256: string }[]): string[] {
    const held = new Set<string>();
    for (const a of artifacts) {
      const info = this.components.lookup(a.release);
      if (info && info.sha256 === a.sha256) held.add(a.release);
    }
    const send: string[] = [];
    const changed = new Set<string>();
    for (const release of held) {
      const r = this.get(release, agentId);
      if (r?.state === "DONE") continue;
      const info = this.components.lookup(release)!;
      this.put(
        {
          ...(r ?? this.fresh(release, agentId, info.size, { state: "DONE", staged: false })),
          state: "DONE",
          downloaded: info.size,
          error: "",
          updatedAt: this.now(),
        },
        true,
      );
      changed.add(release);
    }
    for (const [release, byAgent] of this.records) {
      const r = byAgent.get(agentId);
      if (!r || held.has(release)) continue;
      // A corrupt release is not fetched again until it is repaired (its FAILED stands).
      if (r.staged && !this.components.lookup(release)?.corrupt) {
        this.put(
          { ...r, state: "PENDING", error: "", downloadRate: 0, uploadRate: 0, updatedAt: this.now() },
          true,
        );
        send.push(release);
        changed.add(release);
      } else if (r.state === "DONE") {
        this.put({ ...r, state: "EVICTED", downloadRate: 0, uploadRate: 0, updatedAt: this.now() }, true);
        changed.add(release);
      }
    }
    for (const release of changed) this.notify(release);
    return send.sort();
  }

  /**
   * The master's copy of `release` went bad: every fetch not finished (PENDING, FETCHING,
   * VERIFYING) fails now with `error`, instead of waiting for a seed that will not come.
   * Returns the agents that were asked for it (the caller stops their fetches).
   */
  fail(release: string, error: string): string[] {
    const stopped: string[] = [];
    for (const r of this.forRelease(release)) {
      if (r.state !== "PENDING" && !IN_FLIGHT.has(r.state)) continue;
      stopped.push(r.agentId);
      this.put({ ...r, state: "FAILED", error, downloadRate: 0, uploadRate: 0, updatedAt: this.now() }, true);
    }
    if (stopped.length > 0 || this.records.has(release)) this.notify(release);
    return stopped;
  }

  /** Forgets every record of a removed release. */
  removeRelease(release: string): void {
    const byAgent = this.records.get(release);
    if (!byAgent) return;
    this.records.delete(release);
    this.notify(release);
  }

  subscribe(listener: StagingListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private fresh(
    release: string,
    agentId: string,
    size: number,
    init: { state: FetchState; staged: boolean },
  ): FetchRecord {
    return {
      release,
      agentId,
      state: init.state,
      staged: init.staged,
      downloaded: 0,
      uploaded: 0,
      size,
      downloadRate: 0,
      uploadRate: 0,
      error: "",
      updatedAt: this.now(),
    };
  }

  private put(r: FetchRecord, durable: boolean): void {
    let byAgent = this.records.get(r.release);
    if (!byAgent) {
      byAgent = new Map();
      this.records.set(r.release, byAgent);
    }
    byAgent.set(r.agentId, r);
    if (durable) {
      this.components.persist({
        release: r.release,
        agentId: r.agentId,
        state: r.state,
        staged: r.staged,
        downloaded: r.downloaded,
        size: r.size,
        error: r.error,
        updatedAt: r.updatedAt,
      });
    }
  }

  private notify(release: string): void {
    for (const l of [...this.listeners]) l(release);
  }
}

/**
 * When a staging is over. Complete: every target holds the release, or is UNREACHABLE/LOST
 * (skipped: its agent is away, and a task placed on it later fetches first), with at least one
 * holding it. Failed: a target failed its fetch, or every target is away.
 */
export function stagingVerdict(agents: readonly { state: string }[]): { complete: boolean; failed: boolean } {
  const away = (s: string) => s === "UNREACHABLE" || s === "LOST";
  const held = agents.filter((a) => a.state === "DONE").length;
  const skipped = agents.filter((a) => away(a.state)).length;
  const settled = held + skipped === agents.length;
  const complete = settled && (held > 0 || agents.length === 0);
  const failed = !complete && (agents.some((a) => a.state === "FAILED") || settled);
  return { complete, failed };
}
