// The gRPC shell of SchedulerService: one event stream per framework and unary calls.
import { type ServerWritableStream, status } from "@grpc/grpc-js";
import { checkToken } from "../../common/auth.js";
import type {
  CallResponse,
  Event,
  SchedulerServiceServer,
  SubscribeRequest,
} from "../../proto/gen/yard/v1/scheduler.js";
import { type FrameworkLink, newLinkId } from "../links.js";
import type { Master } from "../master.js";
import { failStream, unaryHandler } from "./call-guard.js";

const done: CallResponse = {};

export function schedulerService(master: Master, token: string | undefined): SchedulerServiceServer {
  return {
    subscribe(call: ServerWritableStream<SubscribeRequest, Event>) {
      let ended = false;
      const link: FrameworkLink = {
        linkId: newLinkId(),
        send(event) {
          if (!ended) call.write(event);
        },
        end(code, message) {
          if (ended) return;
          ended = true;
          call.emit("error", { code, details: message, message });
        },
      };
      let frameworkId: string | undefined;
      try {
        checkToken(token, call.metadata);
        frameworkId = master.subscribe(link, call.request.frameworkInfo);
      } catch (err) {
        ended = true;
        failStream(call, err);
        return;
      }
      const gone = () => {
        ended = true;
        if (frameworkId) master.frameworkDisconnected(frameworkId, link);
        frameworkId = undefined;
      };
      call.on("cancelled", gone);
      call.on("close", gone);
      call.on("error", gone);
    },
    accept: unaryHandler(token, (req) => ({
      taskIds: master.accept(req.frameworkId, req.offerIds, req.operations, req.filters?.refuseSeconds),
    })),
    decline: unaryHandler(token, (req) => {
      master.decline(req.frameworkId, req.offerIds, req.filters?.refuseSeconds);
      return done;
    }),
    kill: unaryHandler(token, (req) => {
      master.kill(req.frameworkId, req.taskId, req.graceSeconds);
      return done;
    }),
    reconcile: unaryHandler(token, (req) => {
      master.reconcile(req.frameworkId, req.taskIds);
      return done;
    }),
    acknowledge: unaryHandler(token, (req) => {
      if (req.taskId || req.acks.length === 0) master.acknowledge(req.frameworkId, req.taskId, req.uuid);
      master.acknowledgeBatch(req.frameworkId, req.acks);
      return done;
    }),
    suppress: unaryHandler(token, (req) => {
      master.suppress(req.frameworkId);
      return done;
    }),
    revive: unaryHandler(token, (req) => {
      master.revive(req.frameworkId);
      return done;
    }),
    teardown: unaryHandler(token, (req) => {
      master.teardown(req.frameworkId);
      return done;
    }),
  };
}

export const SUPERSEDED = status.ABORTED;
