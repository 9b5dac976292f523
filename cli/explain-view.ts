// What `yardctl explain` prints of an Explanation: the framework's half (what waits and why the
// offers it saw did not fit), then the master's half (how its offers to that framework stand).
// Pure: an Explanation and the time in, lines out.
import { stateName, TaskState } from "../common/task-states.js";
import type { Explanation, OfferExplanation } from "../proto/gen/yard/v1/operator.js";

/** Agent reasons (master/allocator/allocator.ts, FrameworkAgentReason) as operators read them. */
const AGENT_REASONS: Record<string, string> = {
  offered_to_it: "offered to it now",
  draining: "draining",
  disk_pressure: "under disk pressure",
  inactive: "disconnected",
  no_resources: "with nothing free",
  filtered: "declined by it (refuse filter)",
  offered_elsewhere: "offered to other frameworks (ahead in DRF order, or holding an offer there)",
  quota: "held back for a role below its quota",
  pending: "free, offered at the next cycle",
};

export function explainLines(e: Explanation, nowSeconds: number): string[] {
  const lines: string[] = [];
  const subject = `${e.kind}/${e.name}`;
  const fw = e.frameworkId ? `${e.frameworkId}${e.frameworkName ? ` (${e.frameworkName})` : ""}` : "";
  if (e.work) {
    const w = e.work;
    const since = w.since > 0 ? `, waiting ${ago(nowSeconds - w.since)}` : "";
    lines.push(`${subject}: ${w.waiting} task(s) wait to be placed${since}; framework ${fw}`);
    if (w.needs)
      lines.push(`  each needs: cpus ${w.needs.cpus}, mem ${w.needs.mem} MiB, disk ${w.needs.disk} MiB`);
    if (w.message) lines.push(`  ${w.message}`);
    if (w.reasons.length === 0 && !w.message) {
      lines.push(
        "  the framework has seen no offer it could not use: the master's side below says why none come",
      );
    }
    for (const r of w.reasons) {
      const offers = r.offers > 0 ? ` (${r.offers} offer${r.offers === 1 ? "" : "s"})` : "";
      lines.push(`  ${r.code}${offers}: ${r.detail}`);
    }
  } else if (e.taskState !== TaskState.TASK_STATE_UNSPECIFIED) {
    lines.push(`${subject}: not pending: ${stateName(e.taskState)} on agent ${e.agentId}; framework ${fw}`);
  } else {
    lines.push(
      `${subject}: nothing of it waits${fw ? ` in framework ${fw}` : ""} (no framework reports it pending)`,
    );
  }
  if (e.offers) lines.push(...offerLines(e.offers, fw, nowSeconds));
  return lines;
}

function offerLines(o: OfferExplanation, fw: string, nowSeconds: number): string[] {
  const state = !o.active
    ? "disconnected"
    : o.suppressed
      ? "suppressed (it asked for no offers)"
      : "wants offers";
  const lines = [
    `master: framework ${fw} ${state}; role ${o.role}, dominant share ${o.dominantShare.toFixed(2)}`,
  ];
  const last = o.lastOfferAt > 0 ? `last offer ${ago(nowSeconds - o.lastOfferAt)} ago` : "no offer yet";
  lines.push(`  ${last}; ${o.outstandingOffers} offer(s) outstanding`);
  const total = o.agents.reduce((n, a) => n + a.agents, 0);
  if (total === 0) lines.push("  no agent is registered");
  else {
    const parts = [...o.agents]
      .sort((a, b) => b.agents - a.agents || a.reason.localeCompare(b.reason))
      .map((a) => `${a.agents} ${AGENT_REASONS[a.reason] ?? a.reason}`);
    lines.push(`  agents (${total}): ${parts.join(", ")}`);
  }
  if (o.filteredUntil > nowSeconds)
    lines.push(`  its refuse filters end in ${ago(o.filteredUntil - nowSeconds)}`);
  return lines;
}

function ago(seconds: number): string {
  const s = Math.max(0, seconds);
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/**
 * One line on why the work waits, for commands that wait on it (`run`, `deploy --watch`):
 * the framework's first reason, else the master's view of its offers. Undefined when nothing
 * of it is reported waiting.
 */
export function pendingSummary(e: Explanation): string | undefined {
  const w = e.work;
  if (!w || w.waiting === 0) return undefined;
  const head = `${w.waiting} task(s) of ${e.kind} ${e.name} wait to be placed`;
  const [first] = w.reasons;
  if (first) return `${head}: ${first.code}: ${first.detail}`;
  if (w.message) return `${head}: ${w.message}`;
  const o = e.offers;
  if (!o) return head;
  if (o.suppressed) return `${head}: its framework asked for no offers`;
  const busy = [...o.agents]
    .filter((a) => a.reason !== "offered_to_it" && a.reason !== "pending")
    .sort((a, b) => b.agents - a.agents)
    .map((a) => `${a.agents} ${AGENT_REASONS[a.reason] ?? a.reason}`);
  return busy.length > 0 ? `${head}: no offer fits; agents: ${busy.join(", ")}` : head;
}
