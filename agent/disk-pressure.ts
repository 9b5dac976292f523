// Disk pressure: the agent's checkpoint cannot be written (disk full, quota, I/O error).
//
// Contract, while under pressure (docs/architecture.md "Disk pressure"):
// - nothing is lost that the master must hear: status updates and acks are held in memory
//   (StatusUpdates) and still sent and retried; kills still kill;
// - launches are refused at once with TASK_FAILED, REASON_DISK_PRESSURE;
// - the condition travels in Register and in every heartbeat, and at once when it changes,
//   so the master stops offering the agent;
// - every `probeMs` the agent checks that the reserve is free again and writes what it holds
//   into the checkpoint; when that succeeds the condition clears by itself.
// An agent that restarts while under pressure has only its checkpoint: updates held in memory
// are lost, and tasks that ended meanwhile come back as REASON_EXIT_STATUS_UNKNOWN.
import { errorMessage } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { AgentConditions } from "../proto/gen/yard/v1/common.js";
import { diskSpace, formatMiB, reserveBytes } from "./disk-space.js";

/** Whether a write failed for want of disk (full, over quota, I/O error) rather than for a bug. */
export function isDiskWriteError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== "string") return false;
  return (
    code === "SQLITE_FULL" ||
    code.startsWith("SQLITE_IOERR") ||
    code === "ENOSPC" ||
    code === "EDQUOT" ||
    code === "EIO"
  );
}

export interface DiskPressureInit {
  /** The disk the checkpoint lives on. */
  dataDir: string;
  /** Free space needed before the agent leaves pressure, in MiB (default: disk-space.ts). */
  reserveMiB?: number;
  /** How often an agent under pressure tries to recover (default 2 s). */
  probeMs?: number;
  logger: Logger;
  /** Writes what the agent holds in memory into the checkpoint; throws while it cannot. */
  flush: () => void;
  /** The condition changed: the master should hear it now, not at the next heartbeat. */
  onChange: (c: AgentConditions) => void;
}

export class DiskPressure {
  private message = "";
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly init: DiskPressureInit) {}

  get active(): boolean {
    return this.message !== "";
  }

  conditions(): AgentConditions {
    return { diskPressure: this.active, message: this.message };
  }

  /** Why the agent is under pressure ("" when it is not). */
  reason(): string {
    return this.message;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Runs a checkpoint write. A disk error puts the agent under pressure and returns false
   * (the caller carries on without the write); any other error is thrown.
   */
  tryWrite(what: string, write: () => void): boolean {
    try {
      write();
      return true;
    } catch (err) {
      if (!this.writeFailed(err, what)) throw err;
      return false;
    }
  }

  /** Takes a failed write: true (and under pressure) when it was a disk error. */
  writeFailed(err: unknown, what: string): boolean {
    if (!isDiskWriteError(err)) return false;
    if (this.active) return true;
    this.message = `the checkpoint cannot be written (${errorMessage(err)})${this.freeText()}`;
    this.init.logger.error("disk pressure: launches refused until the checkpoint can be written", {
      failedWrite: what,
      reason: this.message,
    });
    if (!this.stopped) {
      this.timer = setInterval(() => this.probe(), this.init.probeMs ?? 2000);
      this.timer.unref();
    }
    this.notify();
    return true;
  }

  private probe(): void {
    try {
      const d = diskSpace(this.init.dataDir);
      const reserve = reserveBytes(d.totalBytes, this.init.reserveMiB);
      if (d.freeBytes < reserve) {
        this.message = `${formatMiB(d.freeBytes)} free on the agent's disk, below its reserve of ${formatMiB(reserve)}`;
        return;
      }
      this.init.flush();
    } catch (err) {
      if (!isDiskWriteError(err)) {
        this.init.logger.error("disk pressure probe failed", { err });
      }
      this.message = `the checkpoint still cannot be written (${errorMessage(err)})${this.freeText()}`;
      return;
    }
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.message = "";
    this.init.logger.info("disk pressure cleared: the checkpoint is written again, launches accepted");
    this.notify();
  }

  private freeText(): string {
    try {
      const d = diskSpace(this.init.dataDir);
      return `; ${formatMiB(d.freeBytes)} of ${formatMiB(d.totalBytes)} free`;
    } catch {
      return "";
    }
  }

  private notify(): void {
    try {
      this.init.onChange(this.conditions());
    } catch (err) {
      this.init.logger.warn("cannot report disk pressure", { err });
    }
  }
}
