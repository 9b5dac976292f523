// Reliable task status updates: each gets a fresh uuid and is checkpointed before it is
// sent; every unacknowledged update is sent again every `retryMs` and after each
// (re-)registration, oldest first (so in order per task), until the master acks its uuid.
//
// When the checkpoint cannot be written (disk pressure, disk-pressure.ts), updates and acks
// are held in memory instead, in order, and still sent and retried: the master hears of an
// exit or a kill on a full disk too. From the first failed write until `flush` has written
// everything held, new updates are held as well, so the checkpoint keeps them in order.
import { newUuid } from "../common/ids.js";
import type { Logger } from "../common/logger.js";
import { isTerminal } from "../common/task-states.js";
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

/** An update the checkpoint could not take yet. */
interface HeldUpdate {
  status: TaskStatus;
  extra?: UpdateExtras;
  /** Already in the checkpoint (its ack is what is left to write). */
  written: boolean;
  acked: boolean;
}

export class StatusUpdates {
  private timer?: NodeJS.Timeout;
  private readonly held: HeldUpdate[] = [];
  /** Acks of checkpointed updates that could not be written. */
  private readonly heldAcks: { frameworkId: string; taskId: string; uuid: string }[] = [];

  constructor(
    private readonly checkpoint: Checkpoint,
    /** Sends on the master stream; false when not connected (the update waits). */
    private readonly send: (msg: AgentMessage) => boolean,
    private readonly logger: Logger,
    private readonly retryMs: number,
    /** A checkpoint write failed: true when it was for want of disk (the update is then held). */
    private readonly writeFailed: (err: unknown, what: string) => boolean = () => false,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      try {
        this.resendAll();
      } catch (err) {
        this.logger.error("resending status updates failed", { err });
      }
    }, this.retryMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** True while updates or acks wait in memory for the checkpoint. */
  holding(): boolean {
    return this.held.length > 0 || this.heldAcks.length > 0;
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
    let written = false;
    if (!this.holding()) {
      try {
        this.checkpoint.addUpdate(status, extra);
        written = true;
      } catch (err) {
        if (!this.writeFailed(err, "status update")) throw err;
      }
    }
    if (!written) this.held.push({ status, extra, written: false, acked: false });
    this.send({ status: { status } });
    return status;
  }

  resendAll(): void {
    const ackedAlready = new Set(this.heldAcks.map((a) => a.uuid));
    for (const p of this.checkpoint.pendingUpdates()) {
      if (ackedAlready.has(p.status.uuid)) continue;
      if (!this.send({ status: { status: p.status } })) return;
    }
    for (const h of this.held) {
      if (h.acked) continue;
      if (!this.send({ status: { status: h.status } })) return;
    }
  }

  /**
   * Returns whether the task is done with (its terminal update was acked). An ack names the
   * task by framework and id, as task ids are unique per framework only.
   */
  ack(frameworkId: string, taskId: string, uuid: string): boolean {
    const same = (s: TaskStatus) => s.uuid === uuid && s.taskId === taskId && s.frameworkId === frameworkId;
    const h = this.held.find((x) => same(x.status));
    if (h) {
      if (h.acked) return false;
      h.acked = true;
      return isTerminal(h.status.state) && !this.pendingFor(frameworkId, taskId);
    }
    try {
      const r = this.checkpoint.ack(frameworkId, taskId, uuid);
      if (!r.known)
        this.logger.debug("ack for an update not pending", { task: taskId, framework: frameworkId, uuid });
      return r.taskRemoved;
    } catch (err) {
      if (!this.writeFailed(err, "status ack")) throw err;
    }
    const p = this.checkpoint.pendingUpdates().find((x) => same(x.status));
    if (!p) return false;
    this.heldAcks.push({ frameworkId, taskId, uuid });
    return isTerminal(p.status.state) && !this.pendingFor(frameworkId, taskId);
  }

  /**
   * Writes what is held into the checkpoint, oldest first: the acks of checkpointed updates,
   * then the held updates with their own acks. Throws at the first write that fails; what was
   * written is not held any more, so the next call goes on from there.
   */
  flush(): void {
    while (this.heldAcks.length > 0) {
      const a = this.heldAcks[0]!;
      this.checkpoint.ack(a.frameworkId, a.taskId, a.uuid);
      this.heldAcks.shift();
    }
    while (this.held.length > 0) {
      const h = this.held[0]!;
      if (!h.written) {
        this.checkpoint.addUpdate(h.status, h.extra);
        h.written = true;
      }
      if (h.acked) this.checkpoint.ack(h.status.frameworkId, h.status.taskId, h.status.uuid);
      this.held.shift();
    }
  }

  /** Whether an update of the task still waits for its ack, held or checkpointed. */
  private pendingFor(frameworkId: string, taskId: string): boolean {
    const of = (s: TaskStatus) => s.taskId === taskId && s.frameworkId === frameworkId;
    if (this.held.some((h) => of(h.status) && !h.acked)) return true;
    const ackedAlready = new Set(this.heldAcks.map((a) => a.uuid));
    return this.checkpoint.pendingUpdates().some((p) => of(p.status) && !ackedAlready.has(p.status.uuid));
  }
}
