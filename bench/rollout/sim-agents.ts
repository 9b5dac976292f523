// Simulated agents for the rollout benchmark: many agents in one process, each with its own
// AgentService.Connect stream, speaking the real protocol. A launched task starts no process:
// the agent opens a TCP listener on the task's PORT0 (so that the service framework's real
// TCP health checks pass) and reports RUNNING; a kill closes it and reports KILLED. The
// benchmark then measures Yard's orchestration, not fork() and process start-up.
//
// Usage: node sim-agents.js MASTER COUNT TOKEN
// Prints "ready" once every agent registered.
import net from "node:net";
import { authMetadata } from "../../common/auth.js";
import { CHANNEL_OPTIONS, insecureChannel } from "../../common/grpc.js";
import { newUuid } from "../../common/ids.js";
import { type AgentMessage, AgentServiceClient, type MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { TaskState } from "../../proto/gen/yard/v1/common.js";

const [master, countArg, token] = process.argv.slice(2);
const count = Number(countArg);
/** Ports per agent: all agents share 127.0.0.1, so their ranges must not overlap. */
const PORTS_PER_AGENT = 300;
// Below the usual ephemeral range (32768+), where outgoing connections take ports.
const FIRST_PORT = 20_000;

const client = new AgentServiceClient(master!, insecureChannel(), CHANNEL_OPTIONS);
const listeners = new Map<string, net.Server>();
let registered = 0;

function connect(i: number): void {
  const call = client.connect(authMetadata(token));
  let agentId = "";
  const send = (m: AgentMessage) => call.write(m);
  const status = (taskId: string, frameworkId: string, state: TaskState, message = "") =>
    send({
      status: {
        status: {
          taskId,
          state,
          agentId,
          frameworkId,
          message,
          reason: "",
          uuid: newUuid(),
          timestamp: Date.now() / 1000,
          source: "agent",
        },
      },
    });
  call.on("data", (msg: MasterMessage) => {
    if (msg.registered) {
      agentId = msg.registered.agentId;
      setInterval(
        () => send({ heartbeat: { timestamp: Date.now() / 1000 } }),
        msg.registered.heartbeatIntervalSeconds * 1000,
      ).unref();
      if (++registered === count) console.log("ready");
    } else if (msg.runTask?.task) {
      const t = msg.runTask.task;
      const fw = msg.runTask.frameworkId;
      const port = t.resources?.ports[0]?.begin ?? 0;
      if (!port) {
        status(t.taskId, fw, TaskState.TASK_RUNNING);
        return;
      }
      const server = net.createServer((sock) => sock.end());
      server.on("error", (err) => status(t.taskId, fw, TaskState.TASK_FAILED, err.message));
      server.listen(port, "127.0.0.1", () => {
        listeners.set(t.taskId, server);
        status(t.taskId, fw, TaskState.TASK_RUNNING);
      });
    } else if (msg.killTask) {
      const k = msg.killTask;
      const server = listeners.get(k.taskId);
      listeners.delete(k.taskId);
      if (server) server.close(() => status(k.taskId, k.frameworkId, TaskState.TASK_KILLED));
      else status(k.taskId, k.frameworkId, TaskState.TASK_LOST, "unknown task");
    } else if (msg.refused) {
      console.error(`agent ${i} refused: ${msg.refused.message}`);
    }
  });
  call.on("error", (err) => console.error(`agent ${i} stream: ${err.message}`));
  const begin = FIRST_PORT + i * PORTS_PER_AGENT;
  send({
    register: {
      agentId: "",
      token: "",
      tasks: [],
      artifacts: [],
      agentSecret: "",
      clusterId: "",
      info: {
        id: "",
        hostname: `sim-${i}`,
        resources: {
          cpus: 32,
          mem: 65536,
          disk: 100_000,
          ports: [{ begin, end: begin + PORTS_PER_AGENT - 1 }],
        },
        attributes: [{ name: "zone", value: `zone-${i % 3}` }],
        executors: ["process"],
        version: "sim",
      },
    },
  });
}

for (let i = 0; i < count; i++) connect(i);
process.on("SIGTERM", () => process.exit(0));
