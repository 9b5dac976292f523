// Reliable task status updates: each gets a fresh uuid and is checkpointed before it is
// sent; every unacknowledged update is sent again every `retryMs` and after each
// (re-)registration, oldest first (so in order per task), until the master acks its uuid.
import type { Logger } from "../common/logger.js";
import { newUuid } from "../common/ids.js";
import type { AgentMessage } from "../proto/gen/yard/v1/agent.js";
import type { TaskHealth, TaskState, TaskStatus } from "../proto/gen/yard/v1/common.js";
import type { Checkpoint, UpdateExtras } from "./checkpoint.js";

export interface StatusFields {
  taskId: string;
  frameworkId: string;
  state: TaskState;
  reason: string;
  message: string;
  exitCode?: number;
  /** The task's latest health verdict; absent for a task without a health check. */
  health?: TaskHealth;
}

export class StatusUpdates {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly checkpoint: Checkpoint,
    /** Sends on the master stream; false when not connected (the update waits). */
    private readonly send: (msg: AgentMessage) => boolean,
    private readonly logger: Logger,
    private readonly retryMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.resendAll(), this.retryMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Checkpoints and sends a new update; returns it. `extra` is written in the same
   * transaction (the task itself with its first update, the executor's state with RUNNING).
   */
  emit(agentId: string, f: StatusFields, extra?: UpdateExtras): TaskStatus {
    const status: TaskStatus = {
      taskId: f.taskId,
      state: f.state,
      agentId,
      frameworkId: f.frameworkId,
      message: f.message,
      reason: f.reason,
      uuid: newUuid(),
      timestamp: Date.now() / 1000,
      exitCode: f.exitCode,
      source: "agent",
      health: f.health,
    };
    this.checkpoint.addUpdate(status, extra);
    this.send({ status: { status } });
    return status;
  }

  resendAll(): void {
    for (const p of this.checkpoint.pendingUpdates()) {
      if (!this.send({ status: { status: p.status } })) return;
    }
  }

  /** Returns whether the task left the checkpoint (its terminal update was acked). */
  ack(taskId: string, uuid: string): boolean {
    const r = this.checkpoint.ack(taskId, uuid);
    if (!r.known) this.logger.debug("ack for an update not pending", { task: taskId, uuid });
    return r.taskRemoved;
  }
}
