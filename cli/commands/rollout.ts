// yardctl rollout status|pause|resume|promote|abort|undo|history APP: the operator's verbs
// on an app's deployments.
import type { Command } from "commander";
import { parseFlag } from "../config.js";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { AppStatus } from "../../proto/gen/yard/v1/deploy.js";
import { CliError, ExitCode } from "../errors.js";
import { addClientOptions, print } from "../options.js";
import { addOutputOption, isDataFormat, parseOutput, printData } from "../output-format.js";
import { positiveInt } from "../parse.js";
import { renderTable } from "../table.js";
import { connectDeploy, ENDED, followDeployment, instancesTable, renderRollout } from "./deploy-client.js";
import { watchToEnd } from "./deploy.js";

/**
 * What a verb left the deployment in: "deployment D of app web: PAUSED at step 2/4". A
 * deployment still staging says STAGING: a pause holds it once its release is staged.
 */
export function deploymentStateLine(s: AppStatus): string {
  const d = s.deployment;
  if (!d) return `app ${s.name} has no deployment`;
  const where = ENDED.has(d.state) ? "" : ` at step ${d.step}/${d.steps}`;
  return `deployment ${d.id} of app ${s.name}: ${d.state}${where}`;
}

/** One app's rollout: no wide view. */
const STATUS_FORMATS = ["table", "json", "yaml"] as const;

function when(seconds: number): string {
  return seconds > 0 ? new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) : "";
}

export function registerRollout(program: Command): void {
  const rollout = program.command("rollout").description("watch and steer the deployments of an app");

  addClientOptions(
    addOutputOption(rollout.command("status"), STATUS_FORMATS)
      .description("the app's deployment: step, old/new/healthy counts, staging")
      .argument("<app>")
      .option("-w, --watch", "follow it until the deployment ends; exit 0 only if it succeeds"),
  ).action(async (app: string, flags: { watch?: boolean; output?: string } & Record<string, unknown>) => {
    const output = parseOutput(flags.output, STATUS_FORMATS);
    const client = await connectDeploy(clientTarget(flags));
    try {
      const s = await client.getApp(app);
      if (isDataFormat(output)) return printData(output, AppStatus.toJSON(s));
      const d = s.deployment;
      if (flags.watch && d && !ENDED.has(d.state)) {
        const operator = new OperatorClient(clientTarget(flags));
        const final = await followDeployment(
          client,
          app,
          d.id,
          (t) => process.stdout.write(t),
          operator,
        ).finally(() => operator.close());
        if (final !== "SUCCEEDED") throw new CliError(`deployment ${d.id} ended ${final}`, ExitCode.FAILURE);
        return;
      }
      process.stdout.write(renderRollout(s));
      if (s.tasks.length > 0) process.stdout.write(instancesTable(s));
    } finally {
      client.close();
    }
  });

  for (const [verb, what] of [
    ["pause", "pause the deployment (instances keep running as they are)"],
    ["resume", "resume a paused deployment"],
    ["promote", "let a deployment waiting after a step go on"],
    ["abort", "stop the deployment and roll back to the previous revision"],
  ] as const) {
    addClientOptions(rollout.command(verb).description(what).argument("<app>")).action(
      async (app: string, flags: Record<string, unknown>) => {
        const client = await connectDeploy(clientTarget(flags));
        try {
          print(deploymentStateLine(await client.verb(verb, app)));
        } finally {
          client.close();
        }
      },
    );
  }

  addClientOptions(
    rollout
      .command("undo")
      .description("deploy an earlier revision again (the previous one by default)")
      .argument("<app>")
      .option("--to-revision <n>", "the revision to go back to")
      .option("-w, --watch", "follow the deployment; exit 0 only if it succeeds"),
  ).action(async (app: string, flags: { toRevision?: string; watch?: boolean } & Record<string, unknown>) => {
    const to = flags.toRevision === undefined ? 0 : parseFlag(positiveInt, flags.toRevision, "--to-revision");
    const client = await connectDeploy(clientTarget(flags));
    try {
      const res = await client.undo({ app, toRevision: to });
      print(`app ${app}: revision ${res.revision}, deployment ${res.deploymentId} started`);
      if (flags.watch) await watchToEnd(client, app, res.deploymentId);
    } finally {
      client.close();
    }
  });

  addClientOptions(
    rollout.command("history").description("the app's revisions and deployments").argument("<app>"),
  ).action(async (app: string, flags: Record<string, unknown>) => {
    const client = await connectDeploy(clientTarget(flags));
    try {
      const h = await client.history(app);
      print(
        renderTable(
          ["REVISION", "CREATED", "RELEASE", "CAUSE", "DEPLOYMENT"],
          h.revisions.map((r) => [
            String(r.number),
            when(r.createdAt),
            r.release || r.image,
            r.changeCause,
            r.deploymentState,
          ]),
        ),
      );
      print(
        renderTable(
          ["DEPLOYMENT", "FROM", "TO", "STATE", "STARTED", "ENDED", "MESSAGE"],
          h.deployments.map((d) => [
            d.id,
            String(d.fromRevision),
            String(d.toRevision),
            d.state,
            when(d.startedAt),
            when(d.endedAt),
            d.failure && !d.message.includes(d.failure) ? `${d.message} (${d.failure})` : d.message,
          ]),
        ),
      );
    } finally {
      client.close();
    }
  });
}
