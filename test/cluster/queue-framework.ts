// A small framework for tests, written only against the public SDK: it launches queued tasks
// into the offers it gets and records every status update it receives.
import {
  isTerminal,
  SchedulerDriver,
  type TaskState,
  type TaskStatus,
  takeTasks,
  taskInfo,
} from "../../framework-sdk/index.js";
import { waitFor } from "./harness.js";
import { tlsOf } from "../tls-fixture.js";

export interface QueuedTask {
  taskId: string;
  command: string;
  cpus?: number;
  mem?: number;
  ports?: number;
  /** Only launch on this agent. */
  agentId?: string;
}

export class QueueFramework {
  readonly driver: SchedulerDriver;
  readonly queue: QueuedTask[] = [];
  readonly latest = new Map<string, TaskStatus>();
  readonly updates: TaskStatus[] = [];

  constructor(master: string, token: string, name: string, role = "*", id?: string) {
    this.driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token,
      framework: { name, role, failoverTimeoutSeconds: 120, id },
    });
    this.driver.on("offers", async ({ offers }) => {
      for (const offer of offers) {
        const candidates = this.queue.filter((q) => !q.agentId || q.agentId === offer.agentId);
        const result = takeTasks(
          offer,
          candidates.map((q) => ({ cpus: q.cpus ?? 0.1, mem: q.mem ?? 32, ports: q.ports ?? 0 })),
        );
        const tasks = result.placed.map((p) => {
          const q = candidates[p.index]!;
          this.queue.splice(this.queue.indexOf(q), 1);
          return taskInfo({
            taskId: q.taskId,
            command: q.command,
            cpus: p.resources.cpus,
            mem: p.resources.mem,
            ports: p.resources.ports,
            killGraceSeconds: 1,
          });
        });
        try {
          if (tasks.length > 0) await this.driver.launch(offer, tasks, { refuseSeconds: 0.2 });
          else await this.driver.decline([offer.id], { refuseSeconds: 0.5 });
        } catch {
          // offer rescinded meanwhile: requeue what we tried to launch
          for (const t of tasks) this.queue.push({ taskId: t.taskId, command: t.command!.value });
        }
      }
    });
    this.driver.on("update", ({ status }) => {
      this.updates.push(status);
      this.latest.set(status.taskId, status);
    });
  }

  start(): Promise<string> {
    return this.driver.start();
  }

  submit(...tasks: QueuedTask[]): void {
    this.queue.push(...tasks);
    this.driver.revive().catch(() => undefined);
  }

  state(taskId: string): TaskState | undefined {
    return this.latest.get(taskId)?.state;
  }

  waitForState(taskId: string, state: TaskState, timeoutMs = 20_000): Promise<TaskStatus> {
    return waitFor(
      `task ${taskId} to reach state ${state}`,
      () => {
        const s = this.latest.get(taskId);
        return s?.state === state && s;
      },
      timeoutMs,
    );
  }

  waitForTerminal(taskIds: string[], timeoutMs = 30_000): Promise<TaskStatus[]> {
    return waitFor(
      `${taskIds.length} tasks to end`,
      () => {
        const all = taskIds.map((id) => this.latest.get(id));
        return all.every((s) => s && isTerminal(s.state)) && (all as TaskStatus[]);
      },
      timeoutMs,
    );
  }
}
