// Simulated agents for the scheduler benchmark: many agents in one process, each with its own
// AgentService.Connect stream, speaking the real protocol. A task is reported RUNNING as soon
// as it is launched (no process is started), so the benchmark measures Yard, not fork().
//
// Usage: node sim-agents.js MASTER COUNT TOKEN [FIRST_INDEX]
// Prints "registered N" lines as agents register, and "ready" when all are in.
import type { ClientDuplexStream } from "@grpc/grpc-js";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, insecureChannel } from "../../common/grpc.js";
import { newUuid } from "../../common/ids.js";
import { AgentServiceClient, type AgentMessage, type MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";

const [master, countArg, token, firstArg] = process.argv.slice(2);
const count = Number(countArg);
const first = Number(firstArg ?? 0);
/** Streams per HTTP/2 connection; several connections keep any one from becoming the bottleneck. */
const AGENTS_PER_CHANNEL = 500;

const clients: AgentServiceClient[] = [];
for (let i = 0; i < Math.ceil(count / AGENTS_PER_CHANNEL); i++) {
  // A distinct option value gives each client its own connection instead of a shared one.
  clients.push(
    new AgentServiceClient(master!, insecureChannel(), { ...CHANNEL_OPTIONS, "yard.bench.channel": i }),
  );
}

let registered = 0;
const streams: ClientDuplexStream<AgentMessage, MasterMessage>[] = [];

function connect(i: number): void {
  const client = clients[Math.floor(i / AGENTS_PER_CHANNEL)]!;
  const call = client.connect(authMetadata(token));
  streams.push(call);
  let agentId = "";
  let heartbeat: NodeJS.Timeout | undefined;
  call.on("data", (msg: MasterMessage) => {
    if (msg.registered) {
      agentId = msg.registered.agentId;
      heartbeat = setInterval(
        () => call.write({ heartbeat: { timestamp: Date.now() / 1000 } }),
        msg.registered.heartbeatIntervalSeconds * 1000,
      );
      heartbeat.unref();
      registered++;
      if (registered % 1000 === 0) console.log(`registered ${registered}`);
      if (registered === count) console.log("ready");
    } else if (msg.runTask || msg.batch?.runTasks.length) {
      // Every launched task is RUNNING at once; one message answers the whole batch.
      const launched = msg.runTask ? [msg.runTask, ...(msg.batch?.runTasks ?? [])] : msg.batch!.runTasks;
      const statuses = launched
        .filter((rt) => rt.task)
        .map((rt) => ({
          status: {
            taskId: rt.task!.taskId,
            state: TaskState.TASK_RUNNING,
            agentId,
            frameworkId: rt.frameworkId,
            message: "",
            reason: "",
            uuid: newUuid(),
            timestamp: Date.now() / 1000,
            source: "agent",
          },
        }));
      call.write({ batch: { statuses } });
    } else if (msg.refused) {
      console.error(`agent ${i} refused: ${msg.refused.message}`);
    }
  });
  call.on("error", () => clearInterval(heartbeat));
  call.write({
    register: {
      agentId: "",
      token: "",
      tasks: [],
      artifacts: [],
      agentSecret: "",
      clusterId: "",
      info: {
        id: "",
        hostname: `sim-${first + i}`,
        resources: { cpus: 32, mem: 65536, disk: 100_000, ports: [{ begin: 31000, end: 32000 }] },
        attributes: [{ name: "zone", value: `zone-${(first + i) % 4}` }],
        executors: ["process"],
        version: "sim",
      },
    },
  });
}

// Register in batches so the master is not handed 10,000 streams in one tick.
let next = 0;
const batch = setInterval(() => {
  for (let k = 0; k < 250 && next < count; k++) connect(next++);
  if (next >= count) clearInterval(batch);
}, 20);

process.on("SIGTERM", () => {
  for (const s of streams) s.cancel();
  process.exit(0);
});
