// The service framework's half of "why pending": after each tick, every app that wants
// launches (or is held back from them) is reported to the master with why the last batch of
// offers did not fit it (SchedulerDriver.reportPending; the SDK sends only changes).
import { PendingReasonCode, type PendingWork, type WaitingUnit } from "../../framework-sdk/index.js";
import type { SchedulerState } from "./scheduler-state.js";

export class PendingReport {
  /** When each app began to wait (s): kept while it keeps waiting, so `since` does not move. */
  private readonly since = new Map<string, number>();

  constructor(
    private readonly state: Pick<SchedulerState, "book" | "wants" | "heldBack" | "misfits" | "now">,
  ) {}

  /** The report for now; apps that stopped waiting are forgotten. */
  build(): PendingWork[] {
    const { book, wants, heldBack, misfits } = this.state;
    const now = this.state.now();
    const units: WaitingUnit[] = [];
    const unit = (app: string, waiting: number, revision: number, extra: Partial<WaitingUnit>) => {
      const spec = book.revisions.get(app)?.find((r) => r.number === revision)?.spec;
      const since = this.since.get(app) ?? now;
      units.push({
        kind: "app",
        name: app,
        waiting,
        since,
        needs: spec && {
          cpus: spec.resources.cpus,
          mem: spec.resources.mem,
          disk: spec.resources.disk,
          ports: [],
        },
        ...extra,
      });
    };
    for (const [app, w] of wants) {
      if (w.count > 0) unit(app, w.count, w.revision, {});
    }
    for (const [app, h] of heldBack) {
      const rev = book.activeDeployment(app)?.toRevision ?? book.apps.get(app)?.revision ?? 0;
      const until = new Date(h.until * 1000).toISOString();
      unit(app, h.count, rev, {
        message: `launches held back until ${until}: ${h.why}`,
        reasons: [{ code: PendingReasonCode.BACKED_OFF, detail: `${h.why}; next try at ${until}` }],
      });
    }
    const waiting = new Set(units.map((u) => u.name));
    for (const app of [...this.since.keys()]) if (!waiting.has(app)) this.since.delete(app);
    for (const u of units) if (!this.since.has(u.name)) this.since.set(u.name, u.since);
    return misfits.work(units);
  }
}
