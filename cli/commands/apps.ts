// yardctl scale APP N and yardctl delete APP: the app verbs outside deployments.
import type { Command } from "commander";
import { LIMITS } from "../../common/limits.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { addClientOptions, print } from "../options.js";
import { nonNegativeInt, type Parser, ValueError } from "../parse.js";
import { connectDeploy } from "./deploy-client.js";

/**
 * The instances of `scale`: a whole number from 0 to the service framework's limit, checked
 * here so that a number the wire cannot carry (uint32) is refused as it was typed.
 */
export const instanceCount: Parser<number> = (raw) => {
  const n = nonNegativeInt(raw);
  if (n > LIMITS.instances) {
    throw new ValueError(
      `must be at most ${LIMITS.instances.toLocaleString("en-US")} (the service framework's limit of instances per app)`,
    );
  }
  return n;
};

export function registerApps(program: Command): void {
  addClientOptions(
    program
      .command("scale")
      .description("change how many instances an app runs (no rollout)")
      .argument("<app>")
      .argument("<instances>"),
  ).action(async (app: string, n: string, flags: Record<string, unknown>) => {
    const instances = parseFlag(instanceCount, n, "<instances>");
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
