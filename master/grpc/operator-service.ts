// The gRPC shell of OperatorService: cluster state, drain, kill, event watch and log reads.
import type { ServerWritableStream } from "@grpc/grpc-js";
import { checkToken } from "../../common/auth.js";
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.js";
import type {
  ClusterEvent,
  GetTaskLogsRequest,
  LogChunk,
  OperatorServiceServer,
  WatchRequest,
} from "../../proto/gen/yard/v1/operator.js";
import type { Master } from "../master.js";
import { failStream, unaryHandler } from "./call-guard.js";

export const MASTER_VERSION = "0.1.0";

export function operatorService(master: Master, token: string | undefined): OperatorServiceServer {
  return {
    getState: unaryHandler(token, () => ({
      agents: master.agentStates(),
      frameworks: master.frameworkStates(),
      tasks: master.taskRecords({ includeTerminal: true }),
      masterVersion: MASTER_VERSION,
      startedAt: master.startedAtSeconds,
    })),
    getAgents: unaryHandler(token, () => ({ agents: master.agentStates() })),
    getFrameworks: unaryHandler(token, () => ({ frameworks: master.frameworkStates() })),
    getTasks: unaryHandler(token, (req) => ({ tasks: master.taskRecords(req) })),
    drainAgent: unaryHandler(token, (req) => ({ agent: master.drain(req.agentId, req.killAfterSeconds) })),
    undrainAgent: unaryHandler(token, (req) => ({ agent: master.undrain(req.agentId) })),
    killTask: unaryHandler(token, (req) => {
      master.operatorKill(req.taskId, req.graceSeconds);
      return {};
    }),
    watch(call: ServerWritableStream<WatchRequest, ClusterEvent>) {
      try {
        checkToken(token, call.metadata);
      } catch (err) {
        failStream(call, err);
        return;
      }
      const after = call.request.replay ? 0 : call.request.afterIndex || master.events.lastIndex();
      for (const e of master.events.since(after)) call.write(e);
      const unsubscribe = master.events.subscribe((e) => call.write(e));
      call.on("cancelled", unsubscribe);
      call.on("close", unsubscribe);
      call.on("error", unsubscribe);
    },
    getTaskLogs(call: ServerWritableStream<GetTaskLogsRequest, LogChunk>) {
      try {
        checkToken(token, call.metadata);
        const req = call.request;
        const stream = req.stream || "stdout";
        if (stream !== "stdout" && stream !== "stderr") {
          throw new InvalidArgumentError("stream", `"${req.stream}" is not stdout or stderr`);
        }
        const source = master.taskLogSource(req.taskId);
        let finished = false;
        const requestId = master.logs.open({
          agentId: source.agentId,
          data: (chunk) => call.write({ data: chunk, eof: false }),
          end: (error) => {
            finished = true;
            if (error) failStream(call, new FailedPreconditionError(error));
            else {
              call.write({ data: Buffer.alloc(0), eof: true });
              call.end();
            }
          },
        });
        call.on("cancelled", () => {
          if (finished) return;
          master.logs.close(requestId);
          source.link.send({ cancelLogs: { requestId } });
        });
        source.link.send({
          readLogs: {
            requestId,
            taskId: req.taskId,
            frameworkId: "",
            stream,
            follow: req.follow,
            tailBytes: req.tailBytes,
          },
        });
      } catch (err) {
        failStream(call, err);
      }
    },
  };
}
