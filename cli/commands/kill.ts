// yardctl kill TASK_ID [--grace SECONDS] [--framework ID]
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { expectFound } from "../errors.js";
import { addClientOptions, print } from "../options.js";
import { nonNegative } from "../parse.js";

export function registerKill(program: Command): void {
  addClientOptions(
    program
      .command("kill")
      .description("kill a task (SIGTERM, then SIGKILL after the grace)")
      .argument("<task-id>")
      .option("--grace <seconds>", "seconds between SIGTERM and SIGKILL (default: the task's own)")
      .option("--framework <id>", "the framework the task belongs to"),
  ).action(async (taskId: string, flags: Record<string, unknown>) => {
    const graceSeconds =
      flags.grace === undefined ? undefined : parseFlag(nonNegative, flags.grace, "--grace");
    const client = new OperatorClient(clientTarget(flags));
    try {
      const frameworkId = typeof flags.framework === "string" ? flags.framework : "";
      await expectFound("task", taskId, client.killTask({ taskId, graceSeconds, frameworkId }));
      print(`task ${taskId} is being killed`);
    } finally {
      client.close();
    }
  });
}
