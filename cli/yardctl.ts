#!/usr/bin/env node
// yardctl's entry point. Every failure ends here as one line on stderr and an exit code
// (errors.ts, docs/yardctl.md); commander's own usage errors exit with 2.
import { type Command, CommanderError } from "commander";
import { describeFailure, ExitCode } from "./errors.js";
import { buildProgram } from "./program.js";

/** Applies commander's error handling to `cmd` and all its subcommands. */
function configure(cmd: Command): void {
  cmd.exitOverride();
  cmd.configureOutput({
    // commander's messages start with "error: " and may add a suggestion on a second line.
    outputError: (str, write) =>
      write(
        `yardctl: ${str
          .replace(/^error: /, "")
          .trim()
          .replace(/\s*\n\s*/g, " ")}\n`,
      ),
  });
  for (const sub of cmd.commands) configure(sub);
}

function exit(code: number): void {
  // Let stdout drain first: `yardctl get tasks | head` must see every line.
  process.stdout.write("", () => process.exit(code));
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  configure(program);
  try {
    await program.parseAsync(argv);
    exit(typeof process.exitCode === "number" ? process.exitCode : ExitCode.OK);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and --version come through here too, with exit code 0.
      exit(err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE);
      return;
    }
    const { line, exitCode } = describeFailure(err);
    process.stderr.write(`yardctl: ${line}\n`);
    if (process.env.YARD_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
    exit(exitCode);
  }
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`yardctl: ${describeFailure(err).line}\n`);
  process.exit(ExitCode.FAILURE);
});
