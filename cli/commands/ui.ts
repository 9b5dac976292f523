// yardctl ui: prints a URL that logs a browser into the master's web UI as the caller. The
// URL holds a single-use code that expires in a minute (never the caller's token): the
// browser trades it for a session cookie (docs/ui.md).
import type { Command } from "commander";
import { OperatorClient } from "../clients.js";
import { clientTarget } from "../context.js";
import { addClientOptions, print } from "../options.js";

export function registerUi(program: Command): void {
  addClientOptions(
    program
      .command("ui")
      .description("print a URL that logs a browser into the web UI (single use, valid for a minute)"),
  ).action(async (flags: Record<string, unknown>) => {
    const client = new OperatorClient(clientTarget(flags));
    try {
      const login = await client.createUiLogin();
      const seconds = Math.max(0, Math.round(login.expiresAt - Date.now() / 1000));
      print(login.url);
      process.stderr.write(`open it within ${seconds} s; it logs in once, then a session cookie holds\n`);
    } finally {
      client.close();
    }
  });
}
