// yardctl logs TASK_ID [-f] [--stderr] [--tail LINES]
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { parseFlag } from "../config.js";
import { clientTarget } from "../context.js";
import { expectFound } from "../errors.js";
import { type LogRequest, pumpLogs, writeTo } from "../log-stream.js";
import { readTail } from "../log-tail.js";
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
      .option("--tail <lines>", "only the last LINES lines (0: none, only what -f brings)")
      .option("--framework <id>", "the framework the task belongs to"),
  ).action(async (taskId: string, flags: Record<string, unknown>) => {
    const tail = flags.tail === undefined ? undefined : parseFlag(nonNegativeInt, flags.tail, "--tail");
    const client = new OperatorClient(clientTarget(flags));
    const req: LogRequest = {
      taskId,
      frameworkId: typeof flags.framework === "string" ? flags.framework : "",
      stream: flags.stderr ? "stderr" : "stdout",
      follow: flags.follow === true,
    };
    const sink = writeTo(process.stdout);
    try {
      await expectFound(
        "task",
        taskId,
        (async () => {
          if (tail === undefined) return pumpLogs(client, req, sink);
          const { lines, end } = await readTail(client, req, tail);
          await sink(lines);
          if (req.follow) await pumpLogs(client, { ...req, offset: end }, sink);
        })(),
      );
    } finally {
      client.close();
    }
  });
}
