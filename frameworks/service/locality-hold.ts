// Delay scheduling for the release's bytes: while a deployment rolls a revision with a
// release, its new instances wait a little for an offer from an agent that holds the release
// (staged by a wave, or holding it already) before taking one that would fetch it first.
// The staging waves (wave-plan.ts) make those agents enough for each step, so the wait
// normally ends with a placement on a staged agent; when they are full (other apps took the
// room), the instances go elsewhere after LOCALITY_WAIT_SECONDS and fetch before they start.
// The same trade as Spark's spark.locality.wait: a few seconds of patience, no lost placement.

/** How long an app's launches skip agents without its release before any agent will do. */
export const LOCALITY_WAIT_SECONDS = 3;

export class LocalityHold {
  /** By app: when its launches first skipped an agent without the release, since its last placement. */
  private readonly since = new Map<string, number>();

  constructor(private readonly waitSeconds = LOCALITY_WAIT_SECONDS) {}

  /**
   * Whether the app's launches should skip this agent now: it does not hold the release and
   * the app has waited less than the wait for one that does.
   */
  hold(app: string, holdsRelease: boolean, now: number): boolean {
    if (holdsRelease) return false;
    const since = this.since.get(app) ?? now;
    this.since.set(app, since);
    return now - since < this.waitSeconds;
  }

  /** The app placed instances, or wants none: its next wait starts afresh. */
  reset(app: string): void {
    this.since.delete(app);
  }

  /** Forgets the apps not in `wanting` (their wants ended). */
  keepOnly(wanting: ReadonlySet<string>): void {
    for (const app of this.since.keys()) if (!wanting.has(app)) this.since.delete(app);
  }
}
