// A minimal framework for the security tests: tasks queued by the test are launched one at a
// time on the next offer that fits, and every status is kept. Real SDK, real master.
import {
  isTerminal,
  offerRunsExecutor,
  SchedulerDriver,
  silentLogger,
  type TaskInfo,
  TaskState,
  type TaskStatus,
  takeTasks,
} from "../../framework-sdk/index.js";
import { waitFor } from "../cluster/harness.js";
import { tlsOf } from "../tls-fixture.js";

export class TaskRunner {
  readonly statuses: TaskStatus[] = [];
  private readonly queue: TaskInfo[] = [];
  private readonly driver: SchedulerDriver;

  constructor(master: string, token: string, name: string) {
    this.driver = new SchedulerDriver({
      ...tlsOf("framework"),
      master,
      token,
      framework: { name, role: "*", failoverTimeoutSeconds: 60 },
      logger: silentLogger,
    });
    const d = this.driver;
    d.on("offers", async ({ offers }) => {
      for (const offer of offers) {
        const next = this.queue[0];
        const fits =
          next &&
          offerRunsExecutor(offer, next.executor) &&
          takeTasks(offer, [{ cpus: next.resources?.cpus ?? 0, mem: next.resources?.mem ?? 0 }]).placed
            .length > 0;
        if (!fits) {
          await d.decline([offer.id], { refuseSeconds: 0.2 }).catch(() => undefined);
          continue;
        }
        this.queue.shift();
        await d.launch(offer, [next], { refuseSeconds: 0.2 }).catch(() => this.queue.unshift(next));
      }
    });
    d.on("update", ({ status }) => {
      this.statuses.push(status);
    });
  }

  async start(): Promise<void> {
    await this.driver.start();
  }

  /** Launches `task` on the next offer and resolves its terminal status. */
  async run(task: TaskInfo, timeoutMs = 60_000): Promise<TaskStatus> {
    this.queue.push(task);
    return waitFor(
      `the end of ${task.taskId}`,
      () => this.statuses.find((s) => s.taskId === task.taskId && isTerminal(s.state)),
      timeoutMs,
    );
  }

  /** Launches `task` and resolves once it is RUNNING. */
  async running(task: TaskInfo, timeoutMs = 60_000): Promise<TaskStatus> {
    this.queue.push(task);
    return waitFor(
      `${task.taskId} running`,
      () => {
        const end = this.statuses.find((s) => s.taskId === task.taskId && isTerminal(s.state));
        if (end) throw new Error(`${task.taskId} ended: ${end.message}`);
        return this.statuses.find((s) => s.taskId === task.taskId && s.state === TaskState.TASK_RUNNING);
      },
      timeoutMs,
    );
  }

  kill(taskId: string): Promise<void> {
    return this.driver.kill(taskId);
  }

  stop(): Promise<void> {
    return this.driver.stop();
  }
}
