// Where a task lives and what it sees: sandbox path, environment (docs/protocol.md "Task
// environment"), and quoting for the wrapper script.
import path from "node:path";
import type { TaskInfo } from "../proto/gen/yard/v1/common.js";

export function sandboxDir(dataDir: string, taskId: string): string {
  return path.join(dataDir, "sandboxes", taskId);
}

export interface TaskEnvInput {
  taskId: string;
  frameworkId: string;
  agentId: string;
  info: TaskInfo;
  sandbox: string;
  /** The task's ports, lowest first. */
  ports: readonly number[];
}

/**
 * The agent's PATH, then `command.env`, then what Yard sets (which the task cannot
 * override, so that PORTn and the YARD_* names are always true).
 */
export function buildTaskEnv(t: TaskEnvInput): Record<string, string> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: t.sandbox,
    ...(t.info.command?.env ?? {}),
  };
  t.ports.forEach((p, i) => {
    env[`PORT${i}`] = String(p);
  });
  if (t.ports.length > 0) env.PORT = String(t.ports[0]);
  env.YARD_TASK_ID = t.taskId;
  env.YARD_AGENT_ID = t.agentId;
  env.YARD_FRAMEWORK_ID = t.frameworkId;
  env.YARD_SANDBOX = t.sandbox;
  return env;
}

/** Quotes one word for /bin/sh: nothing inside single quotes is special but the quote. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
