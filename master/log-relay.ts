// Relays task logs from an agent's stream to operator calls. The master never dials an agent,
// so a log read is a request sent down the agent's stream and answered with LogData messages.
import { randomUUID } from "node:crypto";
import type { LogData } from "../proto/gen/yard/v1/agent.js";

export interface LogSink {
  agentId: string;
  /** `offset`: where `chunk` starts in the task's file. */
  data(chunk: Buffer, offset: number): void;
  end(error?: string): void;
}

export class LogRelay {
  private readonly sinks = new Map<string, LogSink>();

  open(sink: LogSink): string {
    const requestId = randomUUID();
    this.sinks.set(requestId, sink);
    return requestId;
  }

  close(requestId: string): void {
    this.sinks.delete(requestId);
  }

  deliver(msg: LogData): void {
    const sink = this.sinks.get(msg.requestId);
    if (!sink) return;
    if (msg.data.length > 0) sink.data(Buffer.from(msg.data), Number(msg.offset));
    if (msg.eof) {
      this.sinks.delete(msg.requestId);
      sink.end(msg.error || undefined);
    }
  }

  /** Ends every read served by an agent that went away. */
  failAgent(agentId: string, reason: string): void {
    for (const [id, sink] of this.sinks) {
      if (sink.agentId !== agentId) continue;
      this.sinks.delete(id);
      sink.end(reason);
    }
  }
}
