// Identifiers the master makes up: prefixed ids for agents, frameworks and offers, and uuids.
import { randomUUID } from "node:crypto";

/** Ids are prefixed so that an operator can tell what kind of object a bare id names. */
export function newId(prefix: "agent" | "fw" | "offer" | "task"): string {
  return `${prefix}-${randomUUID()}`;
}

export function newUuid(): string {
  return randomUUID();
}

/** Task ids are chosen by frameworks: a printable name without path separators or spaces. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,199}$/;
