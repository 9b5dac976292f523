// Sends the framework's pending work to the master (SchedulerService.ReportPending) without
// flooding it: a framework may call set() at every tick and every round of offers; the master
// hears only changes, at most one call per `minIntervalMs`, one call at a time, the latest
// state winning, and the whole state again after each re-subscription (the master keeps
// reports in memory only). A failed call is logged and retried at the next change or
// subscription; it never throws into the framework.
import type { Logger } from "../common/logger.js";
import type { PendingWork } from "../proto/gen/yard/v1/common.js";

export class PendingReporter {
  private wanted: PendingWork[] = [];
  private sentJson: string | undefined;
  private lastSentMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = false;
  private stopped = false;

  constructor(
    private readonly send: (work: PendingWork[]) => Promise<void>,
    /** False while not subscribed: nothing is sent then (resend() follows the subscription). */
    private readonly ready: () => boolean,
    private readonly log: Logger,
    private readonly minIntervalMs = 1000,
    private readonly nowMs: () => number = Date.now,
  ) {}

  set(work: PendingWork[]): void {
    this.wanted = work;
    this.schedule();
  }

  /** A new subscription: the master has nothing of ours; send the state again. */
  resend(): void {
    this.sentJson = undefined;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped || this.inFlight || this.timer || !this.ready()) return;
    if (JSON.stringify(this.wanted) === this.sentJson) return;
    const wait = this.lastSentMs + this.minIntervalMs - this.nowMs();
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, wait);
      this.timer.unref();
      return;
    }
    void this.flush();
  }

  private async flush(): Promise<void> {
    const work = this.wanted;
    const json = JSON.stringify(work);
    this.inFlight = true;
    this.lastSentMs = this.nowMs();
    try {
      await this.send(work);
      this.sentJson = json;
    } catch (err) {
      this.sentJson = undefined;
      if (!this.stopped)
        this.log.warn("reporting pending work failed; sent again at the next change", { err });
    } finally {
      this.inFlight = false;
    }
    // What changed while the call was out goes next (after the interval).
    if (JSON.stringify(this.wanted) !== this.sentJson && this.sentJson !== undefined) this.schedule();
  }
}
