// yardctl completion bash|zsh: prints the shell completion script (completion.ts).
import type { Command } from "commander";
import { bashCompletion, zshCompletion } from "../completion.js";
import { hintArgumentValues } from "../completion-hints.js";
import { UsageError } from "../errors.js";
import { print } from "../options.js";

const SHELLS: Record<string, (program: Command) => string> = { bash: bashCompletion, zsh: zshCompletion };

export function registerCompletion(program: Command): void {
  const cmd = program
    .command("completion")
    .description("print the shell completion script: source <(yardctl completion bash)")
    .argument("<shell>", Object.keys(SHELLS).join(" or "))
    .action((shell: string) => {
      const render = SHELLS[shell];
      if (!render) {
        throw new UsageError(
          `completion: "${shell}" is not a shell this supports (${Object.keys(SHELLS).join(", ")})`,
        );
      }
      print(render(program));
    });
  hintArgumentValues(cmd, Object.keys(SHELLS));
}
