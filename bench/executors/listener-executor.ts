// An executor whose task is a TCP listener on the task's first port (its PORT0) on
// 127.0.0.1: health checks and an outside poller see it serve from RUNNING until it is killed,
// as they would a real server, with no process to start. A port already taken fails the
// launch, as a real server's bind would.
import net from "node:net";
import {
  type ExecutorState,
  executorKey,
  LaunchError,
  type LaunchRequest,
  type RecoverRequest,
} from "../../agent/executor.js";
import { NullExecutor } from "./null-executor.js";

export class ListenerExecutor extends NullExecutor {
  private readonly servers = new Map<string, { server: net.Server; port: number }>();

  override async launch(req: LaunchRequest): Promise<ExecutorState> {
    const port = req.info.resources?.ports[0]?.begin;
    if (!port) throw new LaunchError(req.taskId, "the task has no port to listen on");
    await this.listen(executorKey(req), port);
    await super.launch(req);
    return { port };
  }

  /** The listener closed with the agent that held it: open it again. */
  override async recover(req: RecoverRequest): Promise<void> {
    await this.listen(executorKey(req), Number(req.state.port));
    await super.recover(req);
  }

  private async listen(taskId: string, port: number): Promise<void> {
    const server = net.createServer((socket) => socket.end());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    }).catch((err: Error) => {
      throw new LaunchError(taskId, `cannot listen on 127.0.0.1:${port}: ${err.message}`, { cause: err });
    });
    this.servers.set(taskId, { server, port });
  }

  /** The ports the executor's tasks listen on now. */
  ports(): number[] {
    return [...this.servers.values()].map((s) => s.port);
  }

  override async stop(): Promise<void> {
    await Promise.all([...this.servers.keys()].map((id) => this.release(id)));
  }

  protected override async release(taskId: string): Promise<void> {
    const s = this.servers.get(taskId);
    if (!s) return;
    this.servers.delete(taskId);
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
  }
}
