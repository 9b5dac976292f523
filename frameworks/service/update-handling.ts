// Task status updates: an instance's state, reachability and health as its agent reports them.
// An instance that ended without being asked counts as a failure (unless it was lost with its
// agent); one its agent finds unhealthy is counted and replaced; an UNREACHABLE one is timed
// so the controller can replace it after its `unreachable.replace_after`.
import {
  isInfrastructureLoss,
  isTerminal,
  stateName,
  TaskState,
  type TaskStatus,
} from "../../framework-sdk/index.js";
import type { Live } from "./app-book.js";
import { healthOf, healthySince } from "./instance-health.js";
import type { SchedulerState } from "./scheduler-state.js";

/** What updates need of the loop. */
export interface UpdateLoop {
  kick(): void;
  stopInstance(l: Live, why: string, now: number): void;
  /** `why`: the cause, as the operator reads it ("exited with code 1", "unhealthy: …"). */
  countFailure(l: Live, now: number, why: string): void;
}

export class UpdateHandling {
  constructor(
    private readonly state: Pick<SchedulerState, "book" | "log" | "now" | "crashes" | "driver" | "track">,
    private readonly loop: UpdateLoop,
  ) {}

  onUpdate(status: TaskStatus): void {
    const { book, log } = this.state;
    const l = book.live.get(status.taskId);
    const now = this.state.now();
    if (!l) {
      const driver = this.state.driver;
      if (!isTerminal(status.state) && driver?.frameworkId) {
        log.warn("killing a task no app knows", { taskId: status.taskId });
        this.state.track(driver.kill(status.taskId).catch((err) => log.warn("kill failed", { err })));
      }
      return;
    }
    const prev = l.rec.state;
    l.rec.state = status.state;
    if (status.agentId) l.rec.agentId = status.agentId;
    if (status.message && !l.rec.stopping) l.rec.message = status.message;
    if (isTerminal(status.state)) {
      book.live.delete(l.rec.taskId);
      book.put({ deleteInstances: [l.rec.taskId] });
      if (!l.rec.stopping) {
        // Lost with its agent (gone, drained): replaced, but no fault of the revision.
        const infrastructure = isInfrastructureLoss(status);
        log.warn(infrastructure ? "instance lost with its agent" : "instance ended", {
          taskId: l.rec.taskId,
          state: status.state,
          message: status.message,
        });
        if (!infrastructure)
          this.loop.countFailure(
            l,
            now,
            `ended ${stateName(status.state)}${status.message ? `: ${status.message}` : ""}`,
          );
      }
    } else {
      this.trackReachability(l, status, prev, now);
      this.onHealth(l, status, now);
      if (prev !== status.state) book.put({ instances: [l.rec] });
    }
    this.loop.kick();
  }

  /**
   * An UNREACHABLE instance serves nobody we can see: its health is unknown (healthOf) until
   * its agent is back and it reports RUNNING again; the controller replaces it once it has
   * been unreachable for its `unreachable.replace_after`.
   */
  private trackReachability(l: Live, status: TaskStatus, prev: number, now: number): void {
    if (status.state !== TaskState.TASK_UNREACHABLE) {
      l.unreachableSince = 0;
      return;
    }
    if (prev !== TaskState.TASK_UNREACHABLE) {
      l.unreachableSince = now;
      this.state.log.warn("instance unreachable with its agent", {
        taskId: l.rec.taskId,
        agent: l.rec.agentId,
      });
    }
  }

  /** Health as the status says it; an instance the agent finds unhealthy is replaced. */
  private onHealth(l: Live, status: TaskStatus, now: number): void {
    const hasCheck =
      this.state.book.revisions.get(l.rec.app)?.find((r) => r.number === l.rec.revision)?.spec.healthCheck !==
      undefined;
    const prev = l.health;
    l.health = healthOf(status, hasCheck);
    if (l.health === "healthy") {
      l.healthySince = healthySince(status, prev === "healthy" ? l.healthySince : undefined, now);
      if (prev !== "healthy") this.state.crashes.delete(l.rec.app);
    }
    if (l.health === "unhealthy" && prev !== "unhealthy" && !l.rec.stopping) {
      const why = status.health?.message || "failed its health check";
      this.state.log.warn("instance unhealthy; replacing it", { taskId: l.rec.taskId, check: why });
      this.loop.countFailure(l, now, `unhealthy: ${why}`);
      this.loop.stopInstance(l, `unhealthy: ${why}`, now);
    }
  }
}
