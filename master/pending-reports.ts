// What each framework reported waiting (SchedulerService.ReportPending): the framework's half
// of "why pending". In memory only: a report describes the framework's last rounds of offers,
// is replaced whole by the next one, and is sent again after a failover or a re-subscription.
// Reports are bounded so that a framework cannot make the master hold much for it.
import { InvalidArgumentError } from "../common/errors.js";
import { LIMITS } from "../common/limits.js";
import type { PendingWork } from "../proto/gen/yard/v1/common.js";

const PENDING_LIMITS = {
  work: LIMITS.pendingWork,
  taskIds: LIMITS.pendingTaskIds,
  reasons: LIMITS.pendingReasons,
  text: LIMITS.pendingText,
} as const;

export const PENDING_KINDS = ["app", "job"] as const;

export interface PendingReport {
  work: PendingWork[];
  atMs: number;
}

/** Checks a report field by field; the error names the field and the value. */
export function validatePendingWork(work: PendingWork[]): void {
  if (work.length > PENDING_LIMITS.work)
    throw new InvalidArgumentError("work", `${work.length} entries; at most ${PENDING_LIMITS.work}`);
  work.forEach((w, i) => {
    const at = `work[${i}]`;
    if (!(PENDING_KINDS as readonly string[]).includes(w.kind))
      throw new InvalidArgumentError(`${at}.kind`, `"${w.kind}" is not one of ${PENDING_KINDS.join(", ")}`);
    if (!w.name) throw new InvalidArgumentError(`${at}.name`, "is required");
    text(`${at}.name`, w.name);
    text(`${at}.message`, w.message);
    if (w.taskIds.length > PENDING_LIMITS.taskIds)
      throw new InvalidArgumentError(
        `${at}.task_ids`,
        `${w.taskIds.length} ids; at most ${PENDING_LIMITS.taskIds}`,
      );
    w.taskIds.forEach((id, j) => {
      text(`${at}.task_ids[${j}]`, id);
    });
    if (w.reasons.length > PENDING_LIMITS.reasons)
      throw new InvalidArgumentError(
        `${at}.reasons`,
        `${w.reasons.length} reasons; at most ${PENDING_LIMITS.reasons}`,
      );
    w.reasons.forEach((r, j) => {
      if (!r.code) throw new InvalidArgumentError(`${at}.reasons[${j}].code`, "is required");
      text(`${at}.reasons[${j}].code`, r.code);
      text(`${at}.reasons[${j}].detail`, r.detail);
    });
  });
}

function text(field: string, value: string): void {
  if (value.length > PENDING_LIMITS.text)
    throw new InvalidArgumentError(field, `${value.length} characters; at most ${PENDING_LIMITS.text}`);
}

export class PendingReports {
  private readonly byFramework = new Map<string, PendingReport>();

  /** Replaces the framework's report (validated by the caller). */
  report(frameworkId: string, work: PendingWork[], atMs: number): void {
    this.byFramework.set(frameworkId, { work, atMs });
  }

  forget(frameworkId: string): void {
    this.byFramework.delete(frameworkId);
  }

  of(frameworkId: string): PendingReport | undefined {
    return this.byFramework.get(frameworkId);
  }

  /** Every reported unit, with its framework (the web UI's list of waiting work). */
  all(): { frameworkId: string; work: PendingWork; atMs: number }[] {
    const out: { frameworkId: string; work: PendingWork; atMs: number }[] = [];
    for (const [frameworkId, r] of this.byFramework)
      for (const work of r.work) out.push({ frameworkId, work, atMs: r.atMs });
    return out;
  }

  /**
   * The reported units that `kind/name` names, with their framework: by name for app and job,
   * by one of its task ids for task. Only `frameworkId`'s when given.
   */
  find(
    kind: string,
    name: string,
    frameworkId = "",
  ): { frameworkId: string; work: PendingWork; atMs: number }[] {
    const out: { frameworkId: string; work: PendingWork; atMs: number }[] = [];
    for (const [fw, r] of this.byFramework) {
      if (frameworkId && fw !== frameworkId) continue;
      for (const w of r.work) {
        const hit = kind === "task" ? w.taskIds.includes(name) : w.kind === kind && w.name === name;
        if (hit) out.push({ frameworkId: fw, work: w, atMs: r.atMs });
      }
    }
    return out;
  }
}

/**
 * What changed between two reports of one framework, as events for the cluster's stream: a
 * unit that began to wait or whose first reason changed (WORK_PENDING), and a unit that no
 * longer waits (WORK_PLACED). Counts alone changing is no event: the stream stays readable.
 */
export function pendingChanges(
  before: readonly PendingWork[],
  after: readonly PendingWork[],
): { type: "WORK_PENDING" | "WORK_PLACED"; object: string; message: string }[] {
  const key = (w: PendingWork) => `${w.kind}/${w.name}`;
  const headline = (w: PendingWork) => {
    const r = w.reasons[0];
    return r ? `${r.code}: ${r.detail}` : w.message || "no offer seen yet";
  };
  const old = new Map(before.map((w) => [key(w), w]));
  const out: { type: "WORK_PENDING" | "WORK_PLACED"; object: string; message: string }[] = [];
  for (const w of after) {
    const was = old.get(key(w));
    old.delete(key(w));
    if (was && headline(was) === headline(w)) continue;
    out.push({ type: "WORK_PENDING", object: key(w), message: `${w.waiting} task(s) wait: ${headline(w)}` });
  }
  for (const [k] of old) out.push({ type: "WORK_PLACED", object: k, message: "nothing waits any more" });
  return out;
}
