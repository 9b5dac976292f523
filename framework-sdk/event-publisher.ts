// Sends the framework's events to the master (SchedulerService.PublishEvents) in the order they
// happened: batched (100 per call, the master's limit), one call at a time, held while the
// framework is not subscribed and sent after the next subscription. The queue is bounded: past
// `maxQueued` the oldest are dropped, with one warning, so a master away for long costs a
// bounded amount of memory. Never throws into the framework.
import { status } from "@grpc/grpc-js";
import { LIMITS } from "../common/limits.js";
import type { Logger } from "../common/logger.js";
import type { FrameworkEvent } from "../proto/gen/yard/v1/scheduler.js";

const PER_CALL = LIMITS.frameworkEventsPerCall;

export class EventPublisher {
  private readonly queue: FrameworkEvent[] = [];
  private sending = false;
  private dropped = 0;
  private stopped = false;

  constructor(
    private readonly send: (events: FrameworkEvent[]) => Promise<void>,
    private readonly ready: () => boolean,
    private readonly log: Logger,
    private readonly maxQueued = 1_000,
  ) {}

  publish(events: FrameworkEvent[]): void {
    if (this.stopped || events.length === 0) return;
    this.queue.push(...events);
    const over = this.queue.length - this.maxQueued;
    if (over > 0) {
      this.queue.splice(0, over);
      if (this.dropped === 0)
        this.log.warn("framework events dropped: the master has not taken them", { over });
      this.dropped += over;
    }
    void this.flush();
  }

  /** Subscribed again: what waited goes now. */
  resume(): void {
    void this.flush();
  }

  stop(): void {
    this.stopped = true;
  }

  private async flush(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (!this.stopped && this.queue.length > 0 && this.ready()) {
        const batch = this.queue.slice(0, PER_CALL);
        try {
          await this.send(batch);
        } catch (err) {
          // Kept for the next subscription (or the next publish): a refusal of the master
          // (INVALID_ARGUMENT) drops the batch instead, or it would block every later event.
          if ((err as { code?: number }).code === status.INVALID_ARGUMENT) this.queue.splice(0, batch.length);
          if (!this.stopped)
            this.log.warn("publishing framework events failed", { err, events: batch.length });
          return;
        }
        this.queue.splice(0, batch.length);
        this.dropped = 0;
      }
    } finally {
      this.sending = false;
    }
  }
}
