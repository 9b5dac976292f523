// The gRPC shell of SchedulerService: one event stream per framework and unary calls.
import { type ServerWritableStream, status } from "@grpc/grpc-js";
import { sessionOf } from "../../common/auth.js";
import { PermissionDeniedError } from "../../common/errors.js";
import {
  type CallResponse,
  type Event,
  Event_Type,
  type SchedulerServiceServer,
  type SubscribeRequest,
} from "../../proto/gen/yard/v1/scheduler.js";
import { createLogger } from "../../common/logger.js";
import { StreamWriter } from "../../common/stream-writer.js";
import { type FrameworkLink, newLinkId } from "../links.js";
import type { AccessControl } from "../auth/access.js";
import { describePrincipal } from "../auth/policy.js";
import type { Master } from "../master.js";
import { failStream, unaryHandler } from "./call-guard.js";

const done: CallResponse = {};
const log = createLogger("master.frameworks");

/**
 * A unary call made in a framework's name: the caller must be the principal that registered
 * the framework (Teardown included), and carry that framework's current session.
 */
function sessionHandler<Req extends { frameworkId: string }, Res>(
  master: Master,
  access: AccessControl,
  method: string,
  fn: (req: Req) => Res,
) {
  const gate = (send: () => void) => master.afterCommit(send);
  return unaryHandler<Req, Res>(
    access,
    "view",
    (req, call, principal) => {
      try {
        master.checkSession(req.frameworkId, sessionOf(call.metadata), describePrincipal(principal));
      } catch (err) {
        // Someone acting in another framework's name: the operator must hear of it.
        if (err instanceof PermissionDeniedError)
          access.record({
            principal,
            action: method,
            object: req.frameworkId,
            result: `denied: ${err.message}`,
          });
        throw err;
      }
      return fn(req);
    },
    gate,
  );
}

export function schedulerService(master: Master, access: AccessControl): SchedulerServiceServer {
  return {
    subscribe(call: ServerWritableStream<SubscribeRequest, Event>) {
      let ended = false;
      // A framework that stops reading is cut off rather than buffered for: what it misses
      // (unacknowledged updates, offers) is resent or rescinded when it subscribes again.
      const out = new StreamWriter<Event>(call, {
        openStreams: master.streams,
        maxMessages: master.config.streamMaxPendingMessages,
        tooSlow: (behind) => `framework too slow: ${behind} events behind; subscribe again`,
        onOverflow: (details) =>
          log.warn("dropped a framework that does not read", { framework: frameworkId, details }),
      });
      // Events that tell of changes the master wrote (SUBSCRIBED with its secret, updates)
      // leave once what was written before them is durable (updates are sent from a commit
      // callback: stored, they wait for nothing more). Offers and rescinds tell of
      // nothing stored (an offer dies with the master's term, and an Accept on it waits for
      // every earlier write), so they do not wait for other frameworks' writes: after a
      // failover they would queue behind thousands of them. The stream keeps its order: an
      // offer waits while an earlier event of this stream does.
      let waitingForCommit = 0;
      const link: FrameworkLink = {
        linkId: newLinkId(),
        send(event, stored) {
          // On overflow the writer ends the call on the next turn, and "error" runs gone().
          const nothingToWaitFor =
            stored === true || event.type === Event_Type.OFFERS || event.type === Event_Type.RESCIND;
          if (waitingForCommit === 0 && nothingToWaitFor) {
            if (!ended) out.write(event);
            return;
          }
          waitingForCommit++;
          master.afterCommit(() => {
            waitingForCommit--;
            if (!ended) out.write(event);
          });
        },
        end(code, message) {
          master.afterCommit(() => {
            if (ended) return;
            ended = true;
            out.fail({ code, details: message, message });
          });
        },
      };
      let frameworkId: string | undefined;
      try {
        const info = call.request.frameworkInfo;
        const principal = access.principalOf(call);
        access.require(principal, "subscribe", info?.role || "*");
        access.require(principal, "run_as", info?.user ?? "");
        try {
          frameworkId = master.subscribe(link, info, {
            principal: describePrincipal(principal),
            secret: call.request.frameworkSecret,
            peer: call.getPeer(),
          });
        } catch (err) {
          // A refused takeover of a framework id is recorded in the audit log.
          if (err instanceof PermissionDeniedError)
            access.record({
              principal,
              action: "subscribe",
              object: info?.id ?? "",
              result: `denied: ${err.message}`,
            });
          throw err;
        }
      } catch (err) {
        ended = true;
        failStream(call, err);
        return;
      }
      function gone() {
        ended = true;
        const id = frameworkId;
        frameworkId = undefined;
        if (id) master.frameworkDisconnected(id, link);
      }
      call.on("cancelled", gone);
      call.on("close", gone);
      call.on("error", gone);
    },
    accept: sessionHandler(master, access, "accept", (req) => ({
      taskIds: master.accept(req.frameworkId, req.offerIds, req.operations, req.filters?.refuseSeconds),
    })),
    decline: sessionHandler(master, access, "decline", (req) => {
      master.decline(req.frameworkId, req.offerIds, req.filters?.refuseSeconds);
      return done;
    }),
    kill: sessionHandler(master, access, "kill", (req) => {
      master.kill(req.frameworkId, req.taskId, req.graceSeconds);
      return done;
    }),
    reconcile: sessionHandler(master, access, "reconcile", (req) => {
      master.reconcile(req.frameworkId, req.taskIds);
      return done;
    }),
    acknowledge: sessionHandler(master, access, "acknowledge", (req) => {
      if (req.taskId || req.acks.length === 0) master.acknowledge(req.frameworkId, req.taskId, req.uuid);
      master.acknowledgeBatch(req.frameworkId, req.acks);
      return done;
    }),
    suppress: sessionHandler(master, access, "suppress", (req) => {
      master.suppress(req.frameworkId);
      return done;
    }),
    revive: sessionHandler(master, access, "revive", (req) => {
      master.revive(req.frameworkId);
      return done;
    }),
    publishEvents: sessionHandler(master, access, "publish_events", (req) => {
      master.publishEvents(req.frameworkId, req.events);
      return done;
    }),
    reportPending: sessionHandler(master, access, "report_pending", (req) => {
      master.reportPending(req.frameworkId, req.work);
      return done;
    }),
    teardown: sessionHandler(master, access, "teardown", (req) => {
      master.teardown(req.frameworkId);
      return done;
    }),
  };
}

export const SUPERSEDED = status.ABORTED;
