// What the agent knows of one task, shared by the daemon, the launcher and the recovery, and
// how the agent names a task: task ids are scoped per framework, so two frameworks may both
// run "web-1" here, and every table, sandbox, cgroup and container is keyed by a name that
// holds both.
import type { TaskInfo, TaskState } from "../proto/gen/yard/v1/common.js";
import type { UpdateExtras } from "./checkpoint.js";
import type { StatusFields } from "./status-updates.js";

/** One task on this agent, mirrored in the checkpoint. */
export interface AgentTask {
  /** Its name on this agent (taskName); what the executors and health checks know it by. */
  name: string;
  taskId: string;
  frameworkId: string;
  info: TaskInfo;
  executor: string;
  state: TaskState;
  killRequested: boolean;
}

/** The agent's tasks by name: one table, owned by the daemon, read and written by its parts. */
export type TaskTable = Map<string, AgentTask>;

/**
 * The name of a task launched on this agent: `<framework id>_<task id>`. A task id cannot
 * hold "_" (TASK_ID_PATTERN), so no two (framework, id) pairs share a name, and no name equals
 * a bare task id: the name of a task checkpointed before ids were scoped per framework, which
 * keeps it so that its sandbox, cgroup and container are found again.
 */
export function taskName(frameworkId: string, taskId: string): string {
  return `${frameworkId}_${taskId}`;
}

/**
 * Task names are safe as one path component, a cgroup and a container name: a framework id
 * and a task id (each of TASK_ID_PATTERN's characters), or a bare task id.
 */
export const TASK_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9.:@-]{0,199}(_[A-Za-z0-9][A-Za-z0-9._:@-]{0,199})?$/;

/** The task `taskId` of framework `frameworkId`, as the wire names it. */
export function findTask(tasks: TaskTable, frameworkId: string, taskId: string): AgentTask | undefined {
  const t = tasks.get(taskName(frameworkId, taskId)) ?? tasks.get(taskId);
  return t && t.frameworkId === frameworkId && t.taskId === taskId ? t : undefined;
}

/**
 * Checkpoints and sends a status update for a task (by name), and records its new state in
 * the task table; `extra` goes into the same checkpoint write.
 */
export type ReportTask = (
  name: string,
  fields: Omit<StatusFields, "taskId" | "frameworkId">,
  frameworkId?: string,
  extra?: UpdateExtras,
) => void;
