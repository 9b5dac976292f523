// yardctl logs TASK_ID [-f] [--stderr] [--tail BYTES]
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { expectFound } from "../errors.js";
import { pumpLogs, writeTo } from "../log-stream.js";
import { addClientOptions } from "../options.js";
import { nonNegativeInt } from "../parse.js";

export function registerLogs(program: Command): void {
  addClientOptions(
    program
      .command("logs")
      .description("print a task's stdout (or stderr), through the master")
      .argument("<task-id>")
      .option("-f, --follow", "keep printing until the task ends")
      .option("--stderr", "the task's stderr instead of its stdout")
      .option("--tail <bytes>", "start this many bytes before the end")
      .option("--framework <id>", "the framework the task belongs to"),
  ).action(async (taskId: string, flags: Record<string, unknown>) => {
    const tailBytes = flags.tail === undefined ? 0 : parseFlag(nonNegativeInt, flags.tail, "--tail");
    const client = new OperatorClient(clientTarget(flags));
    try {
      await expectFound(
        "task",
        taskId,
        pumpLogs(
          client,
          {
            taskId,
            frameworkId: typeof flags.framework === "string" ? flags.framework : "",
            stream: flags.stderr ? "stderr" : "stdout",
            follow: flags.follow === true,
            tailBytes,
          },
          writeTo(process.stdout),
        ),
      );
    } finally {
      client.close();
    }
  });
}
