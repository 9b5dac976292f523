// Shared by the partition chaos tests (partitioned agent, master stall, returning agent):
// stopping real daemons with SIGSTOP and always resuming them, and a watch on the master's
// event log that checks the invariant "no task's terminal state ever changes" from outside
// the master.
import type { ChildProcess } from "node:child_process";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../common/grpc.js";
import { isTerminal, TaskState } from "../../common/task-states.js";
import { type ClusterEvent, OperatorServiceClient } from "../../proto/gen/yard/v1/operator.js";
import { type DaemonProcess, type TestCluster, waitFor } from "../cluster/harness.js";
import { operatorCredentials } from "../tls-fixture.js";

/** SIGSTOPs daemons of this test and resumes every one of them on resumeAll(). */
export class Stopper {
  private readonly stopped = new Set<ChildProcess>();

  stop(d: DaemonProcess | undefined): void {
    if (!d || d.child.exitCode !== null) throw new Error("cannot stop a daemon that is not running");
    this.stopped.add(d.child);
    d.child.kill("SIGSTOP");
  }

  resume(d: DaemonProcess | undefined): void {
    if (!d) return;
    d.child.kill("SIGCONT");
    this.stopped.delete(d.child);
  }

  /** For after hooks and finally blocks: nothing this test stopped stays stopped. */
  resumeAll(): void {
    for (const c of this.stopped) {
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGCONT");
    }
    this.stopped.clear();
  }
}

/**
 * Every task update the master stores, from its event log (replayed from the start, then
 * followed). A terminal state must be a task's last stored state: a framework hears each
 * stored state, so a later one is a second end (or an end undone).
 */
export class TaskEndWatch {
  private readonly client: OperatorServiceClient;
  private readonly stream: ClientReadableStream<ClusterEvent>;
  /** Stored states per task, in order. */
  readonly states = new Map<string, TaskState[]>();
  /** Agent events (AGENT_UNREACHABLE, AGENT_LOST, ...), in order. */
  readonly agentEvents: ClusterEvent[] = [];

  constructor(cluster: TestCluster) {
    this.client = new OperatorServiceClient(cluster.masterAddress, operatorCredentials(), CHANNEL_OPTIONS);
    this.stream = this.client.watch({ afterIndex: 0, replay: true, failIfGone: false }, cluster.metadata());
    this.stream.on("data", (e: ClusterEvent) => {
      if (e.type.startsWith("AGENT_")) this.agentEvents.push(e);
      if (e.type !== "TASK_UPDATED" && e.type !== "TASK_ADDED") return;
      let list = this.states.get(e.taskId);
      if (!list) {
        list = [];
        this.states.set(e.taskId, list);
      }
      list.push(e.taskState);
    });
    this.stream.on("error", () => undefined); // cancelled on close()
  }

  /** Waits until the watch has seen `taskId` stored in a state that `ok` accepts. */
  async sawState(taskId: string, ok: (s: TaskState) => boolean, timeoutMs = 20_000): Promise<void> {
    await waitFor(`the event log to show ${taskId}`, () => this.states.get(taskId)?.some(ok), timeoutMs);
  }

  /** Tasks whose stored states go on after a terminal one, as "id: A -> B -> C". */
  violations(): string[] {
    const out: string[] = [];
    for (const [id, list] of this.states) {
      const end = list.findIndex((s) => isTerminal(s));
      if (end >= 0 && end < list.length - 1) out.push(`${id}: ${list.map((s) => TaskState[s]).join(" -> ")}`);
    }
    return out;
  }

  close(): void {
    this.stream.cancel();
    this.client.close();
  }
}

/** A node HTTP server answering $VERSION on PORT0, as an app's command. */
export function httpServerCommand(): string {
  const server = `const v=process.env.VERSION;require('http').createServer((q,s)=>s.end(v)).listen(process.env.PORT0,'127.0.0.1')`;
  return `exec ${JSON.stringify(process.execPath)} -e ${JSON.stringify(server)}`;
}
