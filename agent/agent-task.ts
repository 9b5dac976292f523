// What the agent knows of one task, shared by the daemon, the launcher and the recovery.
import type { TaskInfo, TaskState } from "../proto/gen/yard/v1/common.js";
import type { UpdateExtras } from "./checkpoint.js";
import type { StatusFields } from "./status-updates.js";

/** One task on this agent, mirrored in the checkpoint. */
export interface AgentTask {
  taskId: string;
  frameworkId: string;
  info: TaskInfo;
  executor: string;
  state: TaskState;
  killRequested: boolean;
}

/** The agent's tasks by id: one table, owned by the daemon, read and written by its parts. */
export type TaskTable = Map<string, AgentTask>;

/**
 * Checkpoints and sends a status update for a task, and records its new state in the task
 * table; `extra` goes into the same checkpoint write.
 */
export type ReportTask = (
  taskId: string,
  fields: Omit<StatusFields, "taskId" | "frameworkId">,
  frameworkId?: string,
  extra?: UpdateExtras,
) => void;
