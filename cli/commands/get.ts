// yardctl get agents|frameworks|tasks: lists from the master, as a table or as JSON.
import type { Command } from "commander";
import {
  GetAgentsResponse,
  GetFrameworksResponse,
  GetTasksResponse,
} from "../../proto/gen/yard/v1/operator.js";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { UsageError } from "../errors.js";
import { getApps } from "./apps.js";
import { getMasters } from "./masters.js";
import { addClientOptions, print } from "../options.js";
import { agentsTable, frameworksTable, tasksTable } from "../views.js";

const KINDS: Record<string, "agents" | "frameworks" | "tasks" | "apps" | "masters"> = {
  app: "apps",
  apps: "apps",
  agent: "agents",
  agents: "agents",
  framework: "frameworks",
  master: "masters",
  masters: "masters",
  frameworks: "frameworks",
  fw: "frameworks",
  task: "tasks",
  tasks: "tasks",
};

interface GetFlags {
  output?: string;
  all?: boolean;
  framework?: string;
  agent?: string;
}

export function registerGet(program: Command): void {
  addClientOptions(
    program
      .command("get")
      .description("list agents, frameworks, tasks, apps or masters")
      .argument("<kind>", "agents, frameworks, tasks, apps or masters")
      .option("-o, --output <format>", "table or json", "table")
      .option("--all", "also agents that are gone, frameworks torn down and tasks that ended")
      .option("--framework <id>", "tasks of this framework only")
      .option("--agent <id>", "tasks on this agent only"),
  ).action(async (kindArg: string, flags: GetFlags & Record<string, unknown>) => {
    const kind = KINDS[kindArg.toLowerCase()];
    if (!kind)
      throw new UsageError(`get: "${kindArg}" is not a kind (agents, frameworks, tasks, apps, masters)`);
    const output = flags.output ?? "table";
    if (output !== "table" && output !== "json") {
      throw new UsageError(`--output "${output}": must be table or json`);
    }
    if (kind === "apps") return getApps(flags, output);
    if (kind === "masters") {
      const target = clientTarget(flags);
      return getMasters(target, target.address.split(","), output);
    }
    const client = new OperatorClient(clientTarget(flags));
    try {
      if (kind === "agents") {
        const res = await client.getAgents();
        const agents = flags.all
          ? res.agents
          : res.agents.filter((a) => a.status !== "LOST" && a.status !== "REMOVED");
        if (output === "json") print(JSON.stringify(GetAgentsResponse.toJSON({ agents }), null, 2));
        else print(agentsTable(agents));
      } else if (kind === "frameworks") {
        const res = await client.getFrameworks();
        const frameworks = flags.all ? res.frameworks : res.frameworks.filter((f) => f.status !== "INACTIVE");
        if (output === "json") print(JSON.stringify(GetFrameworksResponse.toJSON({ frameworks }), null, 2));
        else print(frameworksTable(frameworks));
      } else {
        const res = await client.getTasks({
          frameworkId: flags.framework ?? "",
          agentId: flags.agent ?? "",
          includeTerminal: flags.all === true,
        });
        if (output === "json") print(JSON.stringify(GetTasksResponse.toJSON(res), null, 2));
        else print(tasksTable(res.tasks, Date.now() / 1000));
      }
    } finally {
      client.close();
    }
  });
}
