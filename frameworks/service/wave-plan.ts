// Which agents each wave of a rollout stages its release on. Pure: the step targets, the
// agents the framework knows and what they hold in; the agents of one wave out.
//
// A rollout of N instances in steps t_1 < … < t_n stages in waves: wave 1 (the agents of step
// 1) before step 1 launches anything, and wave k+1 while step k runs and waits out its min
// healthy time (at the latest when step k begins; the waves run back to back, one at a time,
// so a wave slower than one step's wait starts earlier), so that staging delays only the
// first step. With `stage: all` there is one wave: every agent that may run the revision,
// before step 1.
//
// Wave sizes follow the steps: after step k, the ceil(E · t_k / N) first agents of the E
// eligible ones (those the LIKE/UNLIKE constraints allow) hold the release, so a step that
// moves a quarter of the instances has a quarter of the agents ready, and the last step all
// of them. Spreading evenly is what placement's constraints (UNIQUE, GROUP_BY) do; without
// them placement packs instances onto fewer agents, which the staged agents then host (the
// offer handling prefers agents holding the release; see locality-hold.ts).
//
// Order of the agents, so the same cluster stages the same agents (replayable): agents that
// already hold the release first (staging them costs nothing), then by hostname, then by id.
import type { AgentView } from "./constraints.js";

/** Cumulative agents staged once wave `k` (0-based, serving step k) is complete. */
export function waveSizes(stepTargets: readonly number[], instances: number, eligible: number): number[] {
  let prev = 0;
  return stepTargets.map((t, k) => {
    const last = k === stepTargets.length - 1;
    const want = last || instances <= 0 ? eligible : Math.ceil((eligible * t) / instances);
    prev = Math.min(eligible, Math.max(prev, want, t > 0 ? 1 : 0));
    return prev;
  });
}

export interface WaveInput {
  /** The agents the spec's static constraints allow. */
  eligible: readonly AgentView[];
  /** Agent ids already in earlier waves (staged or staging). */
  staged: ReadonlySet<string>;
  /** Agent ids known to hold the release already (offers' `releases`). */
  holders: ReadonlySet<string>;
  /** Cumulative agents wanted once this wave is done (waveSizes). */
  size: number;
}

/** The agents of the next wave: the first of the eligible ones not staged yet, `size` in all. */
export function nextWave(input: WaveInput): string[] {
  const fresh = input.eligible.filter((a) => !input.staged.has(a.agentId));
  const already = input.eligible.length - fresh.length;
  const n = Math.max(0, input.size - already);
  return [...fresh]
    .sort(
      (a, b) =>
        Number(input.holders.has(b.agentId)) - Number(input.holders.has(a.agentId)) ||
        a.hostname.localeCompare(b.hostname) ||
        a.agentId.localeCompare(b.agentId),
    )
    .slice(0, n)
    .map((a) => a.agentId);
}
