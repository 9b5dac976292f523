// A small master for the agent's stream tests: a real gRPC server speaking AgentService on
// 127.0.0.1:0, which records what each agent stream sends and lets a test answer.
import { Server, type ServerDuplexStream } from "@grpc/grpc-js";
import { bindServer } from "../../common/grpc.js";
import {
  type AgentMessage,
  AgentServiceService,
  type MasterMessage,
  type Register,
} from "../../proto/gen/yard/v1/agent.js";
import { waitFor } from "./helpers.js";
import { masterServerCredentials } from "../tls-fixture.js";

/** A Registered message's private-swarm fields when the test master runs no swarm. */
export const NO_SWARM = { swarmKey: Buffer.alloc(0), swarmPasskey: "" };

export interface TestStream {
  call: ServerDuplexStream<AgentMessage, MasterMessage>;
  register: Register;
  authorization: string | undefined;
  messages: AgentMessage[];
  /** The task ids of the updates each batch message carried, in order. */
  batches: string[][];
  ended: boolean;
  openedAt: number;
}

export class TestMaster {
  readonly streams: TestStream[] = [];
  private server = new Server();
  port = 0;
  /** Decides the answer to each registration; default: registered as "agent-1". */
  answer: (reg: Register, s: TestStream) => MasterMessage | undefined = (reg) => ({
    registered: {
      agentId: reg.agentId || "agent-1",
      heartbeatIntervalSeconds: 0.2,
      agentSecret: "",
      clusterId: "",
      ...NO_SWARM,
    },
  });

  async start(port = 0): Promise<void> {
    this.server.addService(AgentServiceService, {
      connect: (call: ServerDuplexStream<AgentMessage, MasterMessage>) => {
        let stream: TestStream | undefined;
        call.on("data", (msg: AgentMessage) => {
          if (!stream) {
            const auth = call.metadata.get("authorization")[0];
            stream = {
              call,
              register: msg.register!,
              authorization: typeof auth === "string" ? auth : undefined,
              messages: [],
              batches: [],
              ended: false,
              openedAt: Date.now(),
            };
            this.streams.push(stream);
            const reply = this.answer(msg.register!, stream);
            if (reply) call.write(reply);
            if (reply?.refused) call.end();
            return;
          }
          // A batch of updates is recorded as the updates it carries, in order.
          const batched = msg.batch?.statuses ?? [];
          if (batched.length > 0) {
            stream.batches.push(batched.map((u) => u.status?.taskId ?? ""));
            stream.messages.push(...batched.map((status) => ({ status })));
          } else {
            stream.messages.push(msg);
          }
        });
        call.on("error", () => undefined);
        call.on("end", () => {
          if (stream) stream.ended = true;
          call.end();
        });
        call.on("cancelled", () => {
          if (stream) stream.ended = true;
        });
      },
    });
    this.port = await bindServer(this.server, "127.0.0.1", port, masterServerCredentials());
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  last(): TestStream {
    const s = this.streams[this.streams.length - 1];
    if (!s) throw new Error("no agent stream yet");
    return s;
  }

  waitStreams(n: number, timeoutMs = 10_000): Promise<TestStream> {
    return waitFor(`${n} agent streams`, () => this.streams[n - 1], timeoutMs);
  }

  /** Every message of `kind` the agent sent on any stream, in order. */
  all<K extends keyof AgentMessage>(kind: K): NonNullable<AgentMessage[K]>[] {
    return this.streams.flatMap((s) =>
      s.messages.map((m) => m[kind]).filter((x) => x !== undefined),
    ) as NonNullable<AgentMessage[K]>[];
  }

  async stop(): Promise<void> {
    for (const s of this.streams) if (!s.ended) s.call.end();
    this.server.forceShutdown();
  }
}
