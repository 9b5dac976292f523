// yardctl version
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { print } from "../options.js";

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
  program
    .command("version")
    .description("print yardctl's version")
    .action(() => {
      print(`yardctl ${yardVersion()}`);
    });
}
