// The gRPC shell of OperatorService: cluster state, drain, kill, event watch and log reads.
import type { ServerWritableStream } from "@grpc/grpc-js";
import { FailedPreconditionError, InvalidArgumentError, OutOfRangeError } from "../../common/errors.js";
import type {
  ClusterEvent,
  GetMastersResponse,
  GetTaskLogsRequest,
  LogChunk,
  OperatorServiceServer,
  WatchRequest,
} from "../../proto/gen/yard/v1/operator.js";
import { createLogger } from "../../common/logger.js";
import { StreamWriter } from "../../common/stream-writer.js";
import type { AccessControl } from "../auth/access.js";
import type { Master } from "../master.js";
import { failStream, unaryHandler } from "./call-guard.js";
import { watchEvents } from "./event-watch.js";
import type { UiLoginMinter } from "../ui/ui-login.js";

const log = createLogger("master.operator");

export const MASTER_VERSION = "0.1.0";

/**
 * `masters` answers GetMasters: the masters of the cluster and which one leads (a single
 * master names itself; in HA mode it is read from etcd).
 */
export function operatorService(
  master: Master,
  access: AccessControl,
  masters: () => GetMastersResponse,
  uiLogin?: UiLoginMinter,
): OperatorServiceServer {
  // Answers about the registry (and changes to it) wait until what it shows is durable.
  // GetMasters does not: it must answer while the registry's store is unreachable.
  const gate = (send: () => void) => master.afterCommit(send);
  return {
    getMasters: unaryHandler(access, "view", () => masters()),
    getState: unaryHandler(
      access,
      "view",
      () => ({
        agents: master.agentStates(),
        frameworks: master.frameworkStates(),
        tasks: master.taskRecords({ includeTerminal: true }),
        masterVersion: MASTER_VERSION,
        startedAt: master.startedAtSeconds,
      }),
      gate,
    ),
    getAgents: unaryHandler(access, "view", () => ({ agents: master.agentStates() }), gate),
    getFrameworks: unaryHandler(access, "view", () => ({ frameworks: master.frameworkStates() }), gate),
    getTasks: unaryHandler(access, "view", (req) => ({ tasks: master.taskRecords(req) }), gate),
    explain: unaryHandler(access, "view", (req) => master.explain(req), gate),
    drainAgent: unaryHandler(
      access,
      (req) => ["drain", req.agentId],
      (req) => ({ agent: master.drain(req.agentId, req.killAfterSeconds) }),
      gate,
    ),
    undrainAgent: unaryHandler(
      access,
      (req) => ["drain", req.agentId],
      (req) => ({ agent: master.undrain(req.agentId) }),
      gate,
    ),
    createUiLogin: unaryHandler(access, "view", (_req, _call, principal) => {
      if (!uiLogin) throw new FailedPreconditionError("this master serves no web UI");
      const login = uiLogin(principal);
      // Who logged into the UI is kept; the code is not (it is a secret until used).
      access.record({ principal, action: "ui_login", object: "", result: "ok" });
      return login;
    }),
    reviewAccess: unaryHandler(access, "review_access", (req, _call, caller) => access.review(caller, req)),
    killTask: unaryHandler(
      access,
      (req) => ["kill", req.taskId],
      (req) => {
        master.operatorKill(req.taskId, req.graceSeconds, req.frameworkId);
        return {};
      },
      gate,
    ),
    watch(call: ServerWritableStream<WatchRequest, ClusterEvent>) {
      try {
        access.check(call, "view");
      } catch (err) {
        failStream(call, err);
        return;
      }
      // after_index 0 means "only new events", except for a replay from a given index (1 on).
      const req = call.request;
      const after = req.replay
        ? 0
        : req.failIfGone
          ? req.afterIndex
          : req.afterIndex || master.events.lastIndex();
      if (req.failIfGone && after + 1 < master.events.firstIndex()) {
        const first = master.events.firstIndex();
        failStream(
          call,
          new OutOfRangeError(
            `events after ${after} are no longer kept: the oldest kept is ${first} (the master keeps the last ${master.events.capacity} events)`,
          ),
        );
        return;
      }
      watchEvents(master.events, call, {
        afterIndex: after,
        maxBehind: master.config.streamMaxPendingMessages,
        openStreams: master.streams,
        log,
      });
    },
    getTaskLogs(call: ServerWritableStream<GetTaskLogsRequest, LogChunk>) {
      try {
        const req = call.request;
        const principal = access.check(call, "read_logs", req.taskId);
        access.done(principal, "read_logs", req.taskId);
        const stream = req.stream || "stdout";
        if (stream !== "stdout" && stream !== "stderr") {
          throw new InvalidArgumentError("stream", `"${req.stream}" is not stdout or stderr`);
        }
        const source = master.taskLogSource(req.taskId, req.frameworkId);
        let finished = false;
        let paused = false;
        // The agent pauses reading the file while this reader is behind (log_flow), so what
        // waits here is the few chunks in flight; the byte bound only catches an agent that
        // does not know log_flow.
        const out = new StreamWriter<LogChunk>(call, {
          openStreams: master.streams,
          maxBytes: master.config.streamMaxPendingBytes,
          maxMessages: Number.MAX_SAFE_INTEGER,
          sizeOf: (c) => c.data.length,
          tooSlow: () => "log reader too slow; read again with --tail to resume",
          onOverflow: (details) => log.warn("dropped a slow log reader", { task: req.taskId, details }),
          onDrain: () => {
            if (!paused || finished) return;
            paused = false;
            source.link.send({ logFlow: { requestId, paused: false } });
          },
        });
        const stop = () => {
          if (finished) return;
          finished = true;
          master.logs.close(requestId);
          source.link.send({ cancelLogs: { requestId } });
        };
        const requestId = master.logs.open({
          agentId: source.agentId,
          data: (chunk, offset) => {
            if (!out.write({ data: chunk, eof: false, offset })) return stop();
            if (out.behind && !paused) {
              paused = true;
              source.link.send({ logFlow: { requestId, paused: true } });
            }
          },
          end: (error) => {
            finished = true;
            if (error) out.fail(new FailedPreconditionError(error));
            else {
              out.write({ data: Buffer.alloc(0), eof: true, offset: 0 });
              out.end();
            }
          },
        });
        call.on("cancelled", stop);
        call.on("close", stop);
        source.link.send({
          readLogs: {
            requestId,
            taskId: req.taskId,
            frameworkId: source.frameworkId,
            stream,
            follow: req.follow,
            tailBytes: req.tailBytes,
            offset: req.offset,
          },
        });
      } catch (err) {
        failStream(call, err);
      }
    },
  };
}
