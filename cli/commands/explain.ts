// yardctl explain task/ID | app/NAME | job/ID [--framework ID] [-o json]: why work waits, at
// both levels (the framework's report and the master's offers; master/explain.ts).
import type { Command } from "commander";
import { Explanation } from "../../proto/gen/yard/v1/operator.js";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { UsageError } from "../errors.js";
import { explainLines } from "../explain-view.js";
import { addClientOptions, print } from "../options.js";
import { addOutputOption, isDataFormat, parseOutput, printData } from "../output-format.js";

const KINDS = ["task", "app", "job"];
const FORMATS = ["text", "json", "yaml"] as const;

/** "app/web" → { kind: "app", name: "web" }; a bad form is a usage error naming it. */
export function parseSubject(value: string): { kind: string; name: string } {
  const at = value.indexOf("/");
  const kind = at < 0 ? "" : value.slice(0, at);
  const name = at < 0 ? "" : value.slice(at + 1);
  if (!KINDS.includes(kind) || name === "") {
    throw new UsageError(
      `explain: "${value}" is not KIND/NAME with KIND one of ${KINDS.join(", ")} (e.g. app/web)`,
    );
  }
  return { kind, name };
}

export function registerExplain(program: Command): void {
  addClientOptions(
    addOutputOption(program.command("explain"), FORMATS)
      .description("why a task, an app or a job waits: what its framework and the master say")
      .argument("<kind/name>", "task/ID, app/NAME or job/ID")
      .option("--framework <id>", "the framework it belongs to (when several use the name)"),
  ).action(async (subject: string, flags: Record<string, unknown>) => {
    const { kind, name } = parseSubject(subject);
    const output = parseOutput(flags.output, FORMATS);
    const client = new OperatorClient(clientTarget(flags));
    try {
      const frameworkId = typeof flags.framework === "string" ? flags.framework : "";
      const e = await client.explain({ kind, name, frameworkId });
      if (isDataFormat(output)) printData(output, Explanation.toJSON(e));
      else print(explainLines(e, Date.now() / 1000).join("\n"));
    } finally {
      client.close();
    }
  });
}
