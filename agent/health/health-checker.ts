// Runs the health checks of the tasks on this agent: one probe at a time per task, every
// interval from the start of its RUNNING until it ends or is being killed, each result fed
// to the pure state machine (health-machine.ts). `onChange` fires only when the verdict
// (HEALTH_UNKNOWN / HEALTHY / UNHEALTHY) changes; the agent turns it into a status update.
// The latest verdict stays readable until the task is forgotten, so that every later status
// of the task (its terminal one included) carries it.
import { errorMessage } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import type { HealthCheck, TaskHealth } from "../../proto/gen/yard/v1/common.js";
import type { ExecResult } from "../executor.js";
import { commandProbe } from "./command-probe.js";
import {
  type HealthPolicy,
  healthPolicy,
  nextHealth,
  type ProbeResult,
  unknownHealth,
} from "./health-machine.js";
import { httpProbe } from "./http-probe.js";
import { tcpProbe } from "./tcp-probe.js";

export interface HealthCheckerComponents {
  /** Runs a command inside the task (its executor's exec). */
  exec(taskId: string, command: string, timeoutMs: number): Promise<ExecResult>;
  /** The task's verdict changed. */
  onChange(taskId: string, health: TaskHealth): void;
  /** Each probe's kind, verdict and duration (metrics). */
  onProbe?(kind: string, ok: boolean, seconds: number): void;
  logger: Logger;
}

export interface WatchRequest {
  taskId: string;
  check: HealthCheck;
  /** The task's ports, lowest first (the check's port_index picks one). */
  ports: readonly number[];
  /** Unix ms when the task started running: the grace period counts from there. */
  startedAtMs: number;
  /** The verdict already reported (a task re-attached after an agent restart). */
  health?: TaskHealth;
}

interface Watched {
  req: WatchRequest;
  policy?: HealthPolicy;
  health: TaskHealth;
  timer?: NodeJS.Timeout;
  running: boolean;
  stopped: boolean;
}

export class HealthChecker {
  private readonly tasks = new Map<string, Watched>();

  constructor(
    private readonly c: HealthCheckerComponents,
    private readonly now: () => number = Date.now,
  ) {}

  /** Starts checking a task (again, after an agent restart). A task already watched is left as it is. */
  watch(req: WatchRequest): void {
    if (this.tasks.has(req.taskId)) return;
    const w: Watched = { req, health: req.health ?? unknownHealth(), running: false, stopped: false };
    this.tasks.set(req.taskId, w);
    try {
      w.policy = healthPolicy(req.check);
      if (w.policy.kind !== "command" && req.ports[req.check.portIndex] === undefined) {
        throw new Error(
          `health_check.port_index: ${req.check.portIndex} but the task has ${req.ports.length} port(s)`,
        );
      }
    } catch (err) {
      // A check the agent cannot run leaves the verdict unknown, with the reason; the task runs on.
      w.stopped = true;
      w.health = { ...w.health, message: errorMessage(err) };
      this.c.logger.warn("health check not run", { task: req.taskId, reason: errorMessage(err) });
      return;
    }
    this.schedule(w, 0);
  }

  /** The latest verdict; undefined for a task without a check. */
  health(taskId: string): TaskHealth | undefined {
    const w = this.tasks.get(taskId);
    return w && { ...w.health };
  }

  /** Stops checking a task (it is being killed or ended); its verdict stays readable. */
  unwatch(taskId: string): void {
    const w = this.tasks.get(taskId);
    if (!w) return;
    w.stopped = true;
    if (w.timer) clearTimeout(w.timer);
    w.timer = undefined;
  }

  /** Stops checking and forgets the task. */
  forget(taskId: string): void {
    this.unwatch(taskId);
    this.tasks.delete(taskId);
  }

  stop(): void {
    for (const id of [...this.tasks.keys()]) this.forget(id);
  }

  private schedule(w: Watched, delayMs: number): void {
    if (w.stopped) return;
    w.timer = setTimeout(() => {
      w.timer = undefined;
      this.runOnce(w).catch((err) =>
        this.c.logger.error("health check failed to run", { task: w.req.taskId, err }),
      );
    }, delayMs);
  }

  private async runOnce(w: Watched): Promise<void> {
    if (w.stopped || w.running || !w.policy) return;
    w.running = true;
    let result: ProbeResult;
    const started = performance.now();
    try {
      result = await this.probe(w, w.policy);
    } finally {
      w.running = false;
    }
    this.c.onProbe?.(w.policy.kind, result.ok, (performance.now() - started) / 1000);
    if (w.stopped) return;
    const next = nextHealth(w.health, w.policy, result, this.now(), w.req.startedAtMs);
    const changed = next.state !== w.health.state;
    w.health = next;
    if (changed) this.c.onChange(w.req.taskId, { ...next });
    this.schedule(w, w.policy.intervalMs);
  }

  private probe(w: Watched, p: HealthPolicy): Promise<ProbeResult> {
    const hc = w.req.check;
    if (p.kind === "command") {
      return commandProbe((cmd, ms) => this.c.exec(w.req.taskId, cmd, ms), hc.command, p.timeoutMs);
    }
    const port = w.req.ports[hc.portIndex]!;
    return p.kind === "http" ? httpProbe(port, hc.httpPath, p.timeoutMs) : tcpProbe(port, p.timeoutMs);
  }
}
