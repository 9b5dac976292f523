// yardctl scale APP N and yardctl delete APP: the app verbs outside deployments.
import type { Command } from "commander";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { addClientOptions, print } from "../options.js";
import { nonNegativeInt } from "../parse.js";
import { connectDeploy } from "./deploy-client.js";

export function registerApps(program: Command): void {
  addClientOptions(
    program
      .command("scale")
      .description("change how many instances an app runs (no rollout)")
      .argument("<app>")
      .argument("<instances>"),
  ).action(async (app: string, n: string, flags: Record<string, unknown>) => {
    const instances = parseFlag(nonNegativeInt, n, "<instances>");
    const client = await connectDeploy(clientTarget(flags));
    try {
      await client.scale({ app, instances });
      print(`app ${app} scaled to ${instances} instance(s)`);
    } finally {
      client.close();
    }
  });

  addClientOptions(
    program
      .command("delete")
      .description("stop an app's instances (old revisions first) and forget it")
      .argument("<app>"),
  ).action(async (app: string, flags: Record<string, unknown>) => {
    const client = await connectDeploy(clientTarget(flags));
    try {
      await client.verb("delete", app);
      print(`app ${app} is being deleted`);
    } finally {
      client.close();
    }
  });
}
