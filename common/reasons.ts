// Stable reason constants carried by TaskStatus.reason. Operators and frameworks match on
// these; the human-readable detail goes into TaskStatus.message.
export const Reason = {
  /** The command exited (code in exit_code). */
  COMMAND_EXITED: "REASON_COMMAND_EXITED",
  /** The task went past its memory limit and was OOM-killed. */
  MEMORY_LIMIT: "REASON_MEMORY_LIMIT",
  /** A kill was requested (by its framework, an operator or a drain). */
  KILL_REQUESTED: "REASON_KILL_REQUESTED",
  /** The agent could not start the task (bad command, sandbox, cgroup...). */
  LAUNCH_FAILED: "REASON_LAUNCH_FAILED",
  /**
   * The agent went silent past the agent timeout: the task may well still run (TASK_UNREACHABLE,
   * not terminal), and comes back with its agent.
   */
  AGENT_UNREACHABLE: "REASON_AGENT_UNREACHABLE",
  /** The agent stayed unreachable past the agent gone timeout: its tasks are TASK_LOST. */
  AGENT_GONE: "REASON_AGENT_GONE",
  /** The agent is reachable again; the update carries the state it reports for the task. */
  AGENT_REREGISTERED: "REASON_AGENT_REREGISTERED",
  /** The agent came back without this task. */
  TASK_GONE: "REASON_TASK_GONE",
  /** The agent does not know the task (answer to a kill or reconcile). */
  TASK_UNKNOWN: "REASON_TASK_UNKNOWN",
  /** The framework was torn down or did not come back within its failover timeout. */
  FRAMEWORK_REMOVED: "REASON_FRAMEWORK_REMOVED",
  /** The master answers a reconciliation from its store. */
  RECONCILIATION: "REASON_RECONCILIATION",
  /** After an agent restart the task's process had ended and its exit status was lost. */
  EXIT_STATUS_UNKNOWN: "REASON_EXIT_STATUS_UNKNOWN",
  /** The task's release could not be fetched and verified (the message says why). */
  FETCH_FAILED: "REASON_FETCH_FAILED",
  /** The task's release does not fit on the agent's disk (the message gives need and free space). */
  INSUFFICIENT_DISK: "REASON_INSUFFICIENT_DISK",
  /**
   * The agent is under disk pressure (it cannot write its checkpoint): it refuses launches
   * until space is back. The task never started; it may run elsewhere.
   */
  DISK_PRESSURE: "REASON_DISK_PRESSURE",
  /** The agent was drained past its deadline. */
  AGENT_DRAINED: "REASON_AGENT_DRAINED",
} as const;
export type ReasonCode = (typeof Reason)[keyof typeof Reason];
