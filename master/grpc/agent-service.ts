// The gRPC shell of AgentService.Connect: turns one agent's bidirectional stream into an
// AgentLink and feeds its messages to the Master.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { PermissionDeniedError } from "../../common/errors.js";
import { createLogger } from "../../common/logger.js";
import { StreamWriter } from "../../common/stream-writer.js";
import type { AgentMessage, AgentServiceServer, MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { type AgentLink, newLinkId } from "../links.js";
import type { AccessControl } from "../auth/access.js";
import type { Master } from "../master.js";

const log = createLogger("master.agents");

/** Messages to one agent not yet taken by HTTP/2, at most (common/stream-writer.ts). */
const AGENT_LINK_MAX_PENDING = 20_000;

export function agentService(master: Master, access: AccessControl): AgentServiceServer {
  return {
    connect(call: ServerDuplexStream<AgentMessage, MasterMessage>) {
      let closed = false;
      // An agent that stops reading (a stopped process, a wedged host) is cut off rather than
      // buffered for; it registers again and its tasks are reconciled. The bound is far above
      // any burst: the tasks of an Accept and the acks of a commit travel in one message each.
      const out = new StreamWriter<MasterMessage>(call, {
        maxMessages: AGENT_LINK_MAX_PENDING,
        tooSlow: (behind) => `agent too slow: ${behind} messages behind; connect again`,
        onOverflow: (details) => log.warn("dropped an agent that does not read", { agent: agentId, details }),
      });
      // What goes down to the agent (registered, acks, launches, kills) tells of changes the
      // master wrote: it leaves once they are durable, in the order it was sent.
      const link: AgentLink = {
        linkId: newLinkId(),
        send(msg) {
          master.afterCommit(() => {
            if (!closed) out.write(msg);
          });
        },
        close() {
          master.afterCommit(() => {
            if (closed) return;
            closed = true;
            out.end();
          });
        },
      };
      let agentId: string | undefined;
      const gone = () => {
        if (agentId) master.agentDisconnected(agentId, link);
        agentId = undefined;
        closed = true;
      };
      call.on("data", (msg: AgentMessage) => {
        try {
          if (!agentId) {
            if (!msg.register) {
              link.send({
                refused: { reason: "BAD_REGISTRATION", message: "the first message must be a register" },
              });
              link.close();
              return;
            }
            try {
              access.check(call, "register_agent", msg.register.info?.hostname ?? "");
            } catch (err) {
              const reason = err instanceof PermissionDeniedError ? "PERMISSION_DENIED" : "UNAUTHENTICATED";
              link.send({ refused: { reason, message: (err as Error).message } });
              link.close();
              return;
            }
            const result = master.registerAgent(link, msg.register);
            if ("refused" in result) {
              log.warn("agent registration refused", { reason: result.refused, message: result.message });
              link.send({ refused: { reason: result.refused, message: result.message } });
              link.close();
              return;
            }
            agentId = result.agentId;
            return;
          }
          master.agentMessage(agentId, link, msg);
        } catch (err) {
          // A bad message from one agent must never take the master down.
          log.error("error handling an agent message", { agent: agentId, err });
        }
      });
      call.on("end", () => {
        gone();
        call.end();
      });
      call.on("error", gone);
      call.on("cancelled", gone);
      call.on("close", gone);
    },
  };
}
