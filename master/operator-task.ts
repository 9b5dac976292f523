// Which task an operator names. Frameworks choose task ids in their own namespaces, so a bare
// id may name tasks of several frameworks: then the request is refused with the frameworks it
// could mean, never answered with a guess (a kill of the wrong service is not undone). Pure.
import { AmbiguousTaskIdError, InvalidArgumentError, NotFoundError } from "../common/errors.js";
import type { TaskEntry } from "./registry-entries.js";

/**
 * The one task of `tasks` with id `taskId` (and framework `frameworkId` when given, "" for
 * any). Terminal tasks the master still keeps count: their logs can be read.
 * @throws InvalidArgumentError without a task id; NotFoundError when none matches;
 *   AmbiguousTaskIdError when no framework was given and several match.
 */
export function findOperatorTask(
  tasks: Iterable<TaskEntry>,
  taskId: string,
  frameworkId: string,
  frameworkName: (id: string) => string | undefined,
): TaskEntry {
  if (!taskId) throw new InvalidArgumentError("task_id", "is required");
  const matches: TaskEntry[] = [];
  for (const t of tasks) {
    if (t.info.taskId !== taskId) continue;
    if (frameworkId !== "" && t.frameworkId !== frameworkId) continue;
    matches.push(t);
  }
  const [first] = matches;
  if (!first) {
    throw new NotFoundError(`task ${taskId}${frameworkId ? ` of framework ${frameworkId}` : ""} not found`);
  }
  if (matches.length > 1) {
    const shown = matches
      .map((t) => t.frameworkId)
      .sort()
      .map((id) => {
        const name = frameworkName(id);
        return name ? `${id} (${name})` : id;
      });
    throw new AmbiguousTaskIdError(taskId, shown);
  }
  return first;
}
