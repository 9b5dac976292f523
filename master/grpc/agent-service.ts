// The gRPC shell of AgentService.Connect: turns one agent's bidirectional stream into an
// AgentLink and feeds its messages to the Master.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import { checkToken } from "../../common/auth.js";
import { createLogger } from "../../common/logger.js";
import type { AgentMessage, AgentServiceServer, MasterMessage } from "../../proto/gen/yard/v1/agent.js";
import { type AgentLink, newLinkId } from "../links.js";
import type { Master } from "../master.js";

const log = createLogger("master.agents");

export function agentService(master: Master, token: string | undefined): AgentServiceServer {
  return {
    connect(call: ServerDuplexStream<AgentMessage, MasterMessage>) {
      let closed = false;
      const link: AgentLink = {
        linkId: newLinkId(),
        send(msg) {
          if (!closed) call.write(msg);
        },
        close() {
          if (closed) return;
          closed = true;
          call.end();
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
              checkToken(token, call.metadata);
            } catch (err) {
              link.send({ refused: { reason: "UNAUTHENTICATED", message: (err as Error).message } });
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
          log.error("error handling an agent message", { agent: agentId, error: String(err) });
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
