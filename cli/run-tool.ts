// Runs an external tool (tar, docker) for yardctl, failing with its stderr.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { CliError } from "./errors.js";

/** Runs `cmd args`; rejects with a CliError naming `what` and the tool's stderr when it exits non-zero. */
export async function runTool(cmd: string, args: string[], what: string): Promise<void> {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const [code] = (await Promise.race([
    once(child, "exit"),
    once(child, "error").then(([err]) => {
      throw new CliError(`${what}: cannot run ${cmd}: ${(err as Error).message}`);
    }),
  ])) as [number | null];
  if (code !== 0) throw new CliError(`${what}: ${cmd} failed: ${stderr.trim() || `exit code ${code}`}`);
}
