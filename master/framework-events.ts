// Events a framework publishes into the cluster's stream (SchedulerService.PublishEvents):
// deployments, steps, health changes, staging progress. Checked whole before any is appended,
// so a bad call adds nothing; the master's own types are refused so that a framework cannot
// pass for the master in the stream operators read.
import { InvalidArgumentError } from "../common/errors.js";
import { LIMITS } from "../common/limits.js";
import type { FrameworkEvent } from "../proto/gen/yard/v1/scheduler.js";

const FRAMEWORK_EVENT_LIMITS = { perCall: LIMITS.frameworkEventsPerCall, text: LIMITS.pendingText } as const;

const TYPE = /^[A-Z][A-Z0-9_]{0,47}$/;
/** Prefixes of the types the master writes itself (event-log.ts and its callers). */
const RESERVED = ["AGENT_", "FRAMEWORK_", "TASK_", "AUDIT", "WORK_"];

export function validateFrameworkEvents(events: FrameworkEvent[]): void {
  if (events.length > FRAMEWORK_EVENT_LIMITS.perCall)
    throw new InvalidArgumentError(
      "events",
      `${events.length} events; at most ${FRAMEWORK_EVENT_LIMITS.perCall}`,
    );
  events.forEach((e, i) => {
    const at = `events[${i}]`;
    if (!TYPE.test(e.type))
      throw new InvalidArgumentError(
        `${at}.type`,
        `"${e.type}" is not UPPER_SNAKE_CASE (A-Z, 0-9, _; up to 48)`,
      );
    const reserved = RESERVED.find((p) => e.type.startsWith(p));
    if (reserved)
      throw new InvalidArgumentError(`${at}.type`, `"${e.type}": ${reserved}* types are the master's own`);
    for (const [field, value] of [
      ["object", e.object],
      ["message", e.message],
      ["task_id", e.taskId],
      ["agent_id", e.agentId],
    ] as const) {
      if (value.length > FRAMEWORK_EVENT_LIMITS.text)
        throw new InvalidArgumentError(
          `${at}.${field}`,
          `${value.length} characters; at most ${FRAMEWORK_EVENT_LIMITS.text}`,
        );
    }
  });
}
