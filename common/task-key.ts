// How Yard names a task internally: by its framework AND its id. Frameworks choose task ids and
// each framework has its own namespace, as in Mesos: two frameworks may both run "web-1", and
// neither can learn, by a refusal or an answer, which ids another one uses. Every map, set and
// table that holds tasks is keyed by this, never by the bare id.

/** `<framework id>/<task id>`: a map key, also readable in messages. */
export type TaskKey = string & { readonly __taskKey: unique symbol };

/**
 * The key of a task. A task id cannot contain "/" (TASK_ID_PATTERN), so the last "/" always
 * separates the two parts, whatever the framework id holds.
 */
export function taskKey(frameworkId: string, taskId: string): TaskKey {
  return `${frameworkId}/${taskId}` as TaskKey;
}

/** The framework id and task id a key was made of. */
export function splitTaskKey(key: TaskKey): { frameworkId: string; taskId: string } {
  const at = key.lastIndexOf("/");
  return { frameworkId: key.slice(0, at), taskId: key.slice(at + 1) };
}
