// Reading a deployment's staging waves (service-state.ts WaveRecord). Pure.
import type { DeploymentRecord, WaveRecord } from "./service-state.js";

/** The wave that serves `step` (0-based), if it was started. */
export function waveOf(dep: DeploymentRecord, step: number): WaveRecord | undefined {
  return dep.waves?.find((w) => w.step <= step && step <= w.through);
}

/** Every agent a wave of the deployment targets, staged or still staging. */
export function waveAgents(dep: DeploymentRecord): Set<string> {
  const out = new Set<string>();
  for (const w of dep.waves ?? []) for (const a of w.agents) out.add(a.agentId);
  return out;
}

/** Agents that a wave of the deployment reported holding the release. */
export function stagedAgents(dep: DeploymentRecord): Set<string> {
  const out = new Set<string>();
  for (const w of dep.waves ?? []) {
    for (const a of w.agents) if (a.state === "DONE") out.add(a.agentId);
  }
  return out;
}

export interface WaveSummary {
  agents: number;
  done: number;
  downloaded: number;
  size: number;
}

/** Agents done out of the wave's, and bytes: what `rollout status` shows as its percentage. */
export function summarizeWave(w: WaveRecord): WaveSummary {
  let done = 0;
  let downloaded = 0;
  let size = 0;
  for (const a of w.agents) {
    if (a.state === "DONE") done++;
    size += a.size;
    downloaded += a.state === "DONE" ? a.size : a.downloaded;
  }
  return { agents: w.agents.length, done, downloaded, size };
}
