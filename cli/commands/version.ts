// yardctl version: the client's version and the master's. Without a master that answers,
// the client's line is printed all the same and the failure follows as for every command
// that needs the master (exit 3 when it cannot be reached); --client never dials.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { addClientOptions, print } from "../options.js";

/** The package's version, read from package.json next to dist/ (cli/ is two levels down). */
export function yardVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));
    return typeof pkg.version === "string" ? pkg.version : "unknown";
  } catch {
    return "unknown";
  }
}

export function registerVersion(program: Command): void {
  addClientOptions(
    program
      .command("version")
      .description("print yardctl's version and the master's")
      .option("--client", "yardctl's version only; do not ask the master"),
  ).action(async (flags: { client?: boolean } & Record<string, unknown>) => {
    print(`client: yardctl ${yardVersion()}`);
    if (flags.client) return;
    const target = clientTarget(flags);
    const client = new OperatorClient(target);
    try {
      const state = await client.getState();
      print(`server: master ${state.masterVersion || "unknown"} at ${target.address}`);
    } finally {
      client.close();
    }
  });
}
