// The staging benchmark of bench/rollout (--release-mib N): the app names a release of N MiB
// of random bytes, and the agents' BitTorrent links are capped (the fleet's agents share one
// host's loopback, so each agent's --download-rate/--upload-rate and the master seed's
// --seed-upload-limit stand in for the links that bench/distribute caps with tc in network
// namespaces). Three rollouts, each to a release no agent holds yet:
//
//   v1  stage: next   warm-up (the framework learns the agents from its offers)
//   v2  stage: next   wave prefetch: step k+1's agents stage while step k runs
//   v3  stage: all    every agent before step 1 (the behaviour before waves)
//
// and the figures the issue asks for: time to SUCCEEDED, the unavoidable waits (steps x min
// healthy time), the first step's staging, and the ratio of the total to waits + first
// staging, whose target is 1.10.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, writeSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Deployment, StagingWave } from "../../proto/gen/yard/v1/deploy.js";
import { tlsEnv } from "../../test/tls-fixture.js";

const run = promisify(execFile);
const yardctl = resolve(dirname(fileURLToPath(import.meta.url)), "../../cli/yardctl.js");

export interface StagingRollout {
  seconds: number;
  last?: Deployment;
  stepAt?: Map<number, number>;
  offWave?: number;
}

export interface StagingBenchInput {
  master: string;
  root: string;
  token: string;
  mib: number;
  rateMbit: number;
  distinctSteps: number;
  minHealthy: number;
  deploy(version: string, release: string, stage: "next" | "all"): Promise<StagingRollout>;
}

async function pushRelease(input: StagingBenchInput, version: string): Promise<string> {
  const file = join(input.root, `bench-${version}.bin`);
  const fd = openSync(file, "w");
  for (let i = 0; i < input.mib; i++) writeSync(fd, randomBytes(2 ** 20));
  closeSync(fd);
  const release = `bench@${version}`;
  await run(
    process.execPath,
    [yardctl, "release", "push", release, file, "--master", input.master, "--token", input.token],
    { env: { ...process.env, ...tlsEnv(), YARD_HOME: join(input.root, "cli") } },
  );
  return release;
}

const took = (w: StagingWave | undefined) => (w && w.doneAt > 0 ? w.doneAt - w.startedAt : Number.NaN);

function describeWaves(d: Deployment | undefined): string[] {
  return (d?.waves ?? []).map((w) => {
    const steps = w.step === w.through ? `step ${w.step}` : `steps ${w.step}-${w.through}`;
    return (
      `    wave of ${steps.padEnd(10)} ${String(w.agents).padStart(3)} agent(s), staged in ${took(w).toFixed(2).padStart(6)} s, ` +
      `done in step ${w.doneInStep}${w.waited ? ", its step WAITED for it" : ""}`
    );
  });
}

export async function stagingBenchmark(input: StagingBenchInput): Promise<void> {
  console.log(
    `staging benchmark: a ${input.mib} MiB release, every agent's and the seed's links capped at ${input.rateMbit} Mbit/s`,
  );
  const releases: string[] = [];
  for (const v of ["1", "2", "3"]) releases.push(await pushRelease(input, v));
  const warm = await input.deploy("v1", releases[0]!, "next");
  console.log(`v1 (warm-up, stage: next): ${warm.seconds.toFixed(2)} s`);
  const next = await input.deploy("v2", releases[1]!, "next");
  const all = await input.deploy("v3", releases[2]!, "all");

  const waits = input.distinctSteps * input.minHealthy;
  const row = (name: string, r: StagingRollout) => {
    const first = took(r.last?.waves[0]);
    const base = waits + first;
    return [
      `${name}: time to SUCCEEDED ${r.seconds.toFixed(2)} s; first staging ${first.toFixed(2)} s; ` +
        `waits + first staging ${base.toFixed(2)} s; ratio ${(r.seconds / base).toFixed(3)} (target <= 1.10)`,
      `    steps began at ${[...(r.stepAt ?? new Map<number, number>())].map(([k, t]) => `${k}: ${t.toFixed(2)} s`).join(", ")}; ` +
        `new instances placed on an agent no wave had staged: ${r.offWave ?? 0}`,
      ...describeWaves(r.last),
    ];
  };
  console.log("");
  console.log(
    `unavoidable waits: ${waits.toFixed(2)} s (min healthy time ${input.distinctSteps} steps x ${input.minHealthy} s)`,
  );
  for (const line of row("stage: next (wave prefetch)       ", next)) console.log(line);
  for (const line of row("stage: all  (all before step 1)  ", all)) console.log(line);
  const nextFirst = took(next.last?.waves[0]);
  const ratio = next.seconds / (waits + nextFirst);
  console.log(
    `wave prefetch: ${ratio <= 1.1 ? "target met" : "target NOT met"} (${next.seconds.toFixed(2)} s <= ${((waits + nextFirst) * 1.1).toFixed(2)} s); ` +
      `stage: all took ${(all.seconds - next.seconds).toFixed(2)} s ${all.seconds >= next.seconds ? "more" : "less"}`,
  );
}
