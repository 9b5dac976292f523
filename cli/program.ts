// The yardctl command tree. Kept apart from the entry point so that tests can build it.
import { Command } from "commander";
import { registerApps } from "./commands/apps.js";
import { registerCerts } from "./commands/certs.js";
import { registerCompletion } from "./commands/completion.js";
import { registerDaemons } from "./commands/daemons.js";
import { registerDeploy } from "./commands/deploy.js";
import { registerDrain } from "./commands/drain.js";
import { registerEvents } from "./commands/events.js";
import { registerExplain } from "./commands/explain.js";
import { registerGet } from "./commands/get.js";
import { registerKill } from "./commands/kill.js";
import { registerLogs } from "./commands/logs.js";
import { registerRelease } from "./commands/release.js";
import { registerRollout } from "./commands/rollout.js";
import { registerRun } from "./commands/run.js";
import { registerToken } from "./commands/token.js";
import { registerUi } from "./commands/ui.js";
import { registerUp } from "./commands/up.js";
import { registerVersion, yardVersion } from "./commands/version.js";

export function buildProgram(): Command {
  const program = new Command("yardctl")
    .description("Yard: a two-level cluster scheduler. Operate it from here.")
    .version(yardVersion(), "-V, --version")
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .configureHelp({ sortSubcommands: false });
  registerUp(program);
  registerDaemons(program);
  registerGet(program);
  registerRun(program);
  registerDeploy(program);
  registerRollout(program);
  registerApps(program);
  registerLogs(program);
  registerKill(program);
  registerDrain(program);
  registerEvents(program);
  registerExplain(program);
  registerUi(program);
  registerRelease(program);
  registerToken(program);
  registerCerts(program);
  registerVersion(program);
  registerCompletion(program);
  return program;
}
