// yardctl get KIND: lists from the master (agents, frameworks, tasks, releases, masters), the
// batch framework (jobs) and the service framework (apps, deployments), as a table, a wide
// table, JSON or YAML.
import type { Command } from "commander";
import { ListJobsResponse } from "../../proto/gen/yard/v1/batch.js";
import { Deployment, ListAppsResponse } from "../../proto/gen/yard/v1/deploy.js";
import {
  GetAgentsResponse,
  GetFrameworksResponse,
  GetMastersResponse,
  GetTasksResponse,
} from "../../proto/gen/yard/v1/operator.js";
import { ListReleasesResponse } from "../../proto/gen/yard/v1/release.js";
import { BatchClient, type ClientTarget, OperatorClient } from "../clients.js";
import { hintArgumentValues } from "../completion-hints.js";
import { clientTarget } from "../context.js";
import { UsageError } from "../errors.js";
import { deploymentsTable, jobsTable } from "../framework-views.js";
import { addClientOptions, print } from "../options.js";
import {
  addOutputOption,
  isDataFormat,
  LIST_FORMATS,
  type OutputFormat,
  parseOutput,
  printData,
} from "../output-format.js";
import { releasesTable } from "../release-views.js";
import { agentsTable, frameworkNames, frameworksTable, mastersTable, tasksTable } from "../views.js";
import { appsTable, connectDeploy } from "./deploy-client.js";
import { firstMastersAnswer } from "./masters.js";
import { ReleaseClient } from "./release.js";
import { findBatchEndpoint } from "./run.js";

type Kind = "agents" | "frameworks" | "tasks" | "apps" | "deployments" | "jobs" | "releases" | "masters";

/** The kinds in the order help and errors list them. */
export const KIND_NAMES: readonly Kind[] = [
  "agents",
  "frameworks",
  "tasks",
  "jobs",
  "apps",
  "deployments",
  "releases",
  "masters",
];

/** Each kind by its plural, singular and short names, as kubectl takes them. */
const KINDS: Record<string, Kind> = {
  ...Object.fromEntries(
    KIND_NAMES.flatMap((k) => [
      [k, k],
      [k.slice(0, -1), k],
    ]),
  ),
  fw: "frameworks",
  deploy: "deployments",
  rel: "releases",
};

interface GetFlags {
  output?: string;
  all?: boolean;
  framework?: string;
  agent?: string;
}

/** One kind's listing: fetch, then print in `output`. */
type Lister = (target: ClientTarget, flags: GetFlags, output: OutputFormat) => Promise<void>;

const now = () => Date.now() / 1000;
const wide = (output: OutputFormat) => output === "wide";

const LISTERS: Record<Kind, Lister> = {
  agents: (target, flags, output) =>
    withOperator(target, async (client) => {
      const res = await client.getAgents();
      const agents = flags.all
        ? res.agents
        : res.agents.filter((a) => a.status !== "LOST" && a.status !== "REMOVED");
      if (isDataFormat(output)) printData(output, GetAgentsResponse.toJSON({ agents }));
      else print(agentsTable(agents, wide(output), now()));
    }),

  frameworks: (target, flags, output) =>
    withOperator(target, async (client) => {
      const res = await client.getFrameworks();
      const frameworks = flags.all ? res.frameworks : res.frameworks.filter((f) => f.status !== "INACTIVE");
      if (isDataFormat(output)) printData(output, GetFrameworksResponse.toJSON({ frameworks }));
      else print(frameworksTable(frameworks, wide(output), now()));
    }),

  tasks: (target, flags, output) =>
    withOperator(target, async (client) => {
      const res = await client.getTasks({
        frameworkId: flags.framework ?? "",
        agentId: flags.agent ?? "",
        includeTerminal: flags.all === true,
      });
      if (isDataFormat(output)) return printData(output, GetTasksResponse.toJSON(res));
      // The table names each task's framework; the ids stay in -o wide, json and yaml.
      const [{ frameworks }, agents] = await Promise.all([
        client.getFrameworks(),
        wide(output) ? client.getAgents().then((r) => r.agents) : Promise.resolve([]),
      ]);
      const agentHostnames = new Map(agents.map((a) => [a.info?.id ?? "", a.info?.hostname ?? ""]));
      print(
        tasksTable(
          res.tasks,
          now(),
          { frameworkNames: frameworkNames(frameworks), agentHostnames },
          wide(output),
        ),
      );
    }),

  jobs: async (target, _flags, output) => {
    const operator = new OperatorClient(target);
    let batch: BatchClient | undefined;
    try {
      batch = new BatchClient({ ...target, address: await findBatchEndpoint(operator, target) });
      const res = await batch.listJobs();
      if (isDataFormat(output)) printData(output, ListJobsResponse.toJSON(res));
      else print(jobsTable(res.jobs, now(), wide(output)));
    } finally {
      batch?.close();
      operator.close();
    }
  },

  apps: async (target, _flags, output) => {
    const client = await connectDeploy(target);
    try {
      const res = await client.listApps();
      if (isDataFormat(output)) printData(output, ListAppsResponse.toJSON(res));
      else print(appsTable(res.apps));
    } finally {
      client.close();
    }
  },

  deployments: async (target, _flags, output) => {
    const client = await connectDeploy(target);
    try {
      const res = await client.listApps();
      if (isDataFormat(output)) {
        // Each app's Deployment message as protobuf JSON, with its app's name (it carries none).
        printData(output, {
          deployments: res.apps.flatMap((a) =>
            a.deployment ? [{ app: a.name, ...(Deployment.toJSON(a.deployment) as object) }] : [],
          ),
        });
      } else print(deploymentsTable(res.apps, now(), wide(output)));
    } finally {
      client.close();
    }
  },

  releases: async (target, _flags, output) => {
    const client = new ReleaseClient(target);
    try {
      const res = await client.list();
      if (isDataFormat(output)) printData(output, ListReleasesResponse.toJSON(res));
      else print(releasesTable(res, now(), wide(output)));
    } finally {
      client.close();
    }
  },

  masters: async (target, _flags, output) => {
    const res = await firstMastersAnswer(target, target.address.split(","));
    if (isDataFormat(output)) printData(output, GetMastersResponse.toJSON(res));
    else print(mastersTable(res, now()));
  },
};

async function withOperator(target: ClientTarget, use: (client: OperatorClient) => Promise<void>) {
  const client = new OperatorClient(target);
  try {
    await use(client);
  } finally {
    client.close();
  }
}

export function registerGet(program: Command): void {
  const get = addClientOptions(
    addOutputOption(program.command("get"), LIST_FORMATS)
      .description(`list ${KIND_NAMES.join(", ")}`)
      .argument("<kind>", KIND_NAMES.join(", "))
      .option("--all", "also agents that are gone, frameworks torn down and tasks that ended")
      .option("--framework <id>", "tasks of this framework only")
      .option("--agent <id>", "tasks on this agent only"),
  ).action(async (kindArg: string, flags: GetFlags & Record<string, unknown>) => {
    const kind = KINDS[kindArg.toLowerCase()];
    if (!kind) throw new UsageError(`get: "${kindArg}" is not a kind (${KIND_NAMES.join(", ")})`);
    const output = parseOutput(flags.output, LIST_FORMATS);
    await LISTERS[kind](clientTarget(flags), flags, output);
  });
  hintArgumentValues(get, KIND_NAMES);
}
