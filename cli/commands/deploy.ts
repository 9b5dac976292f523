// yardctl deploy -f app.yaml [--watch]: applies an app spec to the service framework. With
// --watch it follows the deployment and exits 0 only if it succeeded (1 when it failed,
// rolled back or was aborted), so that CI pipelines can gate on it.
import { readFileSync } from "node:fs";
import { formatBytes, LIMITS, utf8Bytes } from "../../common/limits.js";
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { errnoSentence } from "../errno-text.js";
import { CliError, ExitCode, UsageError } from "../errors.js";
import type { ApplyResponse } from "../../proto/gen/yard/v1/deploy.js";
import { addClientOptions, print } from "../options.js";
import { connectDeploy, type DeployClient, followDeployment } from "./deploy-client.js";

/** Follows a deployment to its end and sets the exit code from its final state. */
export async function watchToEnd(
  client: DeployClient,
  app: string,
  deploymentId: string,
  operator?: OperatorClient,
): Promise<void> {
  const final = await followDeployment(client, app, deploymentId, (t) => process.stdout.write(t), operator);
  if (final === "SUCCEEDED") {
    print(`deployment ${deploymentId} succeeded`);
    return;
  }
  throw new CliError(
    `deployment ${deploymentId} ended ${final || "without a final state"}`,
    ExitCode.FAILURE,
  );
}

export function registerDeploy(program: Command): void {
  addClientOptions(
    program
      .command("deploy")
      .description("apply an app spec (YAML) to the service framework")
      .requiredOption("-f, --file <app.yaml>", "the app spec; - for stdin")
      .option("-w, --watch", "follow the deployment; exit 0 only if it succeeds"),
  ).action(async (flags: { file: string; watch?: boolean } & Record<string, unknown>) => {
    let text: string;
    try {
      text = readFileSync(flags.file === "-" ? 0 : flags.file, "utf8");
    } catch (err) {
      throw new UsageError(`--file ${JSON.stringify(flags.file)}: cannot read it (${errnoSentence(err)})`);
    }
    // The service framework refuses it too; saying so here spares the upload.
    const size = utf8Bytes(text);
    if (size > LIMITS.specBytes) {
      throw new UsageError(
        `--file ${JSON.stringify(flags.file)}: the spec is ${formatBytes(size)}, over the limit of ${formatBytes(LIMITS.specBytes)}`,
      );
    }
    const client = await connectDeploy(clientTarget(flags));
    try {
      let res: ApplyResponse;
      try {
        res = await client.apply({ specYaml: text, fileName: flags.file });
      } catch (err) {
        // Every validation problem on its own line, each with its path in the file.
        if (err instanceof CliError && err.exitCode === ExitCode.USAGE) {
          process.stderr.write(`yardctl: ${err.message}\n`);
          throw new CliError("the spec was not applied", ExitCode.USAGE);
        }
        throw err;
      }
      const name = res.app?.name ?? "";
      if (res.unchanged) print(`app ${name} unchanged (revision ${res.revision})`);
      else if (res.scaled)
        print(
          `app ${name} scaled to ${res.app?.instances} instance(s) (revision ${res.revision}, no rollout)`,
        );
      else print(`app ${name}: revision ${res.revision}, deployment ${res.deploymentId} started`);
      if (flags.watch && res.deploymentId) {
        const operator = new OperatorClient(clientTarget(flags));
        try {
          await watchToEnd(client, name, res.deploymentId, operator);
        } finally {
          operator.close();
        }
      }
    } finally {
      client.close();
    }
  });
}
