// What an agent's executor list means, in one place for the master, the SDK and every
// framework. An agent lists the executors it runs (Register.executors, copied into each
// Offer.executors). A list that is empty means "process" only: that is what a plain agent
// runs (docker is offered only when asked for and its engine answers), so reading an empty
// list as "anything" sends docker tasks to agents that cannot start them. A task's empty
// executor means "docker" when it names an image, else "process".

/** Executors Yard knows; an agent runs a subset. */
export const KNOWN_EXECUTORS = ["process", "docker"] as const;

/** What an agent runs when it lists none, and what a task without an image runs. */
export const DEFAULT_EXECUTOR = "process";

/** The executors an agent runs, given what it lists. */
export function agentExecutors(listed: readonly string[] | undefined): string[] {
  return listed && listed.length > 0 ? [...listed] : [DEFAULT_EXECUTOR];
}

/** The executor a task runs under, given its executor field and whether it names an image. */
export function taskExecutor(executor: string | undefined, hasImage = false): string {
  return executor || (hasImage ? "docker" : DEFAULT_EXECUTOR);
}

/** True when an agent that lists `listed` can run a task that needs `executor`. */
export function runsExecutor(listed: readonly string[] | undefined, executor: string): boolean {
  return agentExecutors(listed).includes(executor || DEFAULT_EXECUTOR);
}
