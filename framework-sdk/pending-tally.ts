// The framework's half of "why pending", gathered while it places work on offers: which units
// (apps, jobs) wait, and for each, how many offers were ruled out for which reason. One tally
// per round of offers; `work(units)` joins it to the units that wait, for
// SchedulerDriver.reportPending. Pure.
//
// Reason codes are stable (operators and scripts match on them):
//   insufficient_cpus | insufficient_mem | insufficient_disk | insufficient_ports: the offer
//     is too small; the detail names the need and the largest offer seen;
//   constraint: a placement constraint rules the agent out (the detail is the constraint's);
//   executor: the agent does not run the executor the task needs (docker, process);
//   release_not_staged: the task waits for an agent that holds its release;
//   backed_off: launches of the unit are held back after failures (no offer is looked at).
import { LIMITS } from "../common/limits.js";
import { normalizeRanges, rangesCount } from "../common/resources.js";
import type { PendingWork, Resources } from "../proto/gen/yard/v1/common.js";
import type { TaskRequirement } from "./offer-matching.js";

export const PendingReasonCode = {
  INSUFFICIENT_CPUS: "insufficient_cpus",
  INSUFFICIENT_MEM: "insufficient_mem",
  INSUFFICIENT_DISK: "insufficient_disk",
  INSUFFICIENT_PORTS: "insufficient_ports",
  CONSTRAINT: "constraint",
  EXECUTOR: "executor",
  RELEASE_NOT_STAGED: "release_not_staged",
  BACKED_OFF: "backed_off",
} as const;

const EPSILON = 1e-9;

/** The first resource of `offered` that is short of `need`, or undefined when it fits. */
export function shortResource(
  offered: Resources,
  need: TaskRequirement,
): { code: string; resource: string; need: number; had: number } | undefined {
  const scalars = [
    ["cpus", need.cpus, offered.cpus, PendingReasonCode.INSUFFICIENT_CPUS],
    ["mem", need.mem, offered.mem, PendingReasonCode.INSUFFICIENT_MEM],
    ["disk", need.disk ?? 0, offered.disk, PendingReasonCode.INSUFFICIENT_DISK],
  ] as const;
  for (const [resource, n, had, code] of scalars) {
    // The same tolerance as the resource math (common/resources.ts): 0.1 cpus thrice fits 0.3.
    if (had + EPSILON < n) return { code, resource, need: n, had };
  }
  const ports = rangesCount(normalizeRanges(offered.ports));
  if (ports < (need.ports ?? 0))
    return {
      code: PendingReasonCode.INSUFFICIENT_PORTS,
      resource: "ports",
      need: need.ports ?? 0,
      had: ports,
    };
  return undefined;
}

interface Tallied {
  offers: number;
  detail: string;
  /** For a resource: the largest amount offered, what one task needs, which resource. */
  largest?: number;
  need?: number;
  resource?: string;
}

/** A unit that waits, as the framework knows it; `PendingTally.work` adds the reasons. */
export interface WaitingUnit {
  kind: "app" | "job";
  name: string;
  waiting: number;
  needs?: Resources;
  /** Unix seconds it began to wait. */
  since: number;
  taskIds?: string[];
  /** A sentence when it waits for something else than offers (a backoff, a staging). */
  message?: string;
  /** Reasons the framework knows without offers (e.g. backed_off). */
  reasons?: { code: string; detail: string }[];
}

export class PendingTally {
  /** By "kind/name", then by reason code. */
  private readonly units = new Map<string, Map<string, Tallied>>();

  /** One offer ruled out for the unit, for `code`; the first `detail` is kept. */
  misfit(kind: string, name: string, code: string, detail: string): void {
    const r = this.reason(kind, name, code);
    r.offers++;
    r.detail ||= detail;
  }

  /** One offer too small for the unit; the detail keeps the largest amount seen. */
  tooSmall(kind: string, name: string, offered: Resources, need: TaskRequirement): void {
    const short = shortResource(offered, need);
    if (!short) return;
    const r = this.reason(kind, name, short.code);
    r.offers++;
    r.largest = Math.max(r.largest ?? 0, short.had);
    r.need = short.need;
    r.resource = short.resource;
  }

  /**
   * The report: each waiting unit with the reasons tallied for it (most offers first), for
   * SchedulerDriver.reportPending. Units that do not wait are left out, whatever was tallied.
   */
  work(waiting: readonly WaitingUnit[]): PendingWork[] {
    return waiting.map((u) => {
      const tallied = [...(this.units.get(`${u.kind}/${u.name}`) ?? [])]
        .map(([code, r]) => ({
          code,
          offers: r.offers,
          detail:
            r.resource !== undefined
              ? `needs ${round(r.need ?? 0)} ${r.resource}; the largest offer had ${round(r.largest ?? 0)}`
              : r.detail,
        }))
        .sort((a, b) => b.offers - a.offers || a.code.localeCompare(b.code));
      const known = (u.reasons ?? []).map((r) => ({ code: r.code, offers: 0, detail: r.detail }));
      return {
        kind: u.kind,
        name: u.name,
        taskIds: (u.taskIds ?? []).slice(0, LIMITS.pendingTaskIds),
        waiting: u.waiting,
        needs: u.needs,
        reasons: [...known, ...tallied].slice(0, LIMITS.pendingReasons),
        since: u.since,
        message: u.message ?? "",
      };
    });
  }

  private reason(kind: string, name: string, code: string): Tallied {
    const key = `${kind}/${name}`;
    let unit = this.units.get(key);
    if (!unit) {
      unit = new Map();
      this.units.set(key, unit);
    }
    let r = unit.get(code);
    if (!r) {
      r = { offers: 0, detail: "" };
      unit.set(code, r);
    }
    return r;
  }
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
