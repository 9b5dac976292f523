// yardctl drain AGENT_ID [--kill-after SECONDS], yardctl undrain AGENT_ID
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { expectFound } from "../errors.js";
import { addClientOptions, print } from "../options.js";
import { nonNegative } from "../parse.js";

export function registerDrain(program: Command): void {
  addClientOptions(
    program
      .command("drain")
      .description("stop offering an agent's resources; optionally kill its tasks after a while")
      .argument("<agent-id>")
      .option("--kill-after <seconds>", "kill the agent's tasks after this many seconds (default: never)"),
  ).action(async (agentId: string, flags: Record<string, unknown>) => {
    const killAfterSeconds =
      flags.killAfter === undefined ? 0 : parseFlag(nonNegative, flags.killAfter, "--kill-after");
    const client = new OperatorClient(clientTarget(flags));
    try {
      const res = await expectFound("agent", agentId, client.drainAgent({ agentId, killAfterSeconds }));
      const tail = killAfterSeconds > 0 ? `; its tasks will be killed in ${killAfterSeconds}s` : "";
      print(`agent ${agentId} is ${res.agent?.status || "DRAINING"}${tail}`);
    } finally {
      client.close();
    }
  });

  addClientOptions(
    program.command("undrain").description("offer a drained agent's resources again").argument("<agent-id>"),
  ).action(async (agentId: string, flags: Record<string, unknown>) => {
    const client = new OperatorClient(clientTarget(flags));
    try {
      const res = await expectFound("agent", agentId, client.undrainAgent({ agentId }));
      print(`agent ${agentId} is ${res.agent?.status || "ACTIVE"}`);
    } finally {
      client.close();
    }
  });
}
