// Where the bytes already are: offers name the releases their agent holds complete and
// verified (Offer.releases, NAME@VERSION), so a framework can put a task that needs a release
// on an agent that needs no download. A preference, never a constraint: an agent that lacks
// the release still runs the task once it has fetched it (the master sends the fetch with the
// launch). Pure helpers over plain offers.
import type { Offer } from "../proto/gen/yard/v1/common.js";

/**
 * True when the offer's agent holds `release` (NAME@VERSION), complete and verified, as the
 * master knew when it made the offer. "" (no release) is held by every agent.
 */
export function holdsRelease(offer: Pick<Offer, "releases">, release: string): boolean {
  return release === "" || offer.releases.includes(release);
}

/**
 * The offers whose agents hold `release` first, then the others; within each group the order
 * given is kept (a stable partition), so a framework's own ordering (a seeded shuffle, a
 * best fit) still breaks the ties. Returns a new array.
 */
export function preferHolders<T extends Pick<Offer, "releases">>(offers: readonly T[], release: string): T[] {
  const holders: T[] = [];
  const others: T[] = [];
  for (const o of offers) (holdsRelease(o, release) ? holders : others).push(o);
  return [...holders, ...others];
}
