// Which releases the service framework pins on the master, so that `release rm` is refused
// while a deployed revision uses one: the releases of every revision that has instances, is
// an app's current revision, the one `rollout undo` would go back to, or the source of a
// deployment in progress (its rollback target).
import type { Logger } from "../../framework-sdk/index.js";
import type { AppBook } from "./app-book.js";
import type { Stager } from "./stager.js";

/** The releases (NAME@VERSION) the framework's apps depend on, sorted. */
export function pinnedReleases(book: AppBook): string[] {
  const out = new Set<string>();
  for (const app of book.apps.values()) {
    const revs = book.revisions.get(app.name) ?? [];
    const numbers = new Set<number>([app.revision]);
    const previous = [...revs].reverse().find((r) => r.number < app.revision);
    if (previous) numbers.add(previous.number);
    const dep = book.activeDeployment(app.name);
    if (dep) numbers.add(dep.fromRevision).add(dep.toRevision);
    for (const l of book.instancesOf(app.name)) numbers.add(l.rec.revision);
    for (const r of revs) if (numbers.has(r.number) && r.spec.release) out.add(r.spec.release);
  }
  // Instances of apps already deleted still run until their kills end.
  for (const l of book.live.values()) {
    if (book.apps.has(l.rec.app)) continue;
    const rev = book.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision);
    if (rev?.spec.release) out.add(rev.spec.release);
  }
  return [...out].sort();
}

/** A failed SetPins is tried again after this long, not on every tick. */
const RETRY_MS = 5_000;

/**
 * Sends the pinned set to the master when it changed: one call at a time, and a failed call
 * is retried by a later sync (the set is compared with what the master accepted last).
 */
export class PinSync {
  private sent: { frameworkId: string; key: string } | undefined;
  private inFlight = false;
  private retryAt = 0;

  constructor(
    private readonly stager: Stager,
    private readonly log: Logger,
  ) {}

  /** Returns the call's promise when one was started (it never rejects). */
  sync(frameworkId: string | undefined, releases: readonly string[]): Promise<void> | undefined {
    if (!frameworkId || this.inFlight || Date.now() < this.retryAt) return undefined;
    const key = releases.join("\n");
    if (this.sent?.frameworkId === frameworkId && this.sent.key === key) return undefined;
    this.inFlight = true;
    return this.stager
      .setPins(releases)
      .then(
        () => {
          this.sent = { frameworkId, key };
          this.retryAt = 0;
          this.log.info("release pins updated", { releases: releases.join(", ") || "none" });
        },
        (err) => {
          this.retryAt = Date.now() + RETRY_MS;
          this.log.warn("setting the release pins failed; retrying", { inMs: RETRY_MS, err });
        },
      )
      .finally(() => {
        this.inFlight = false;
      });
  }
}
