// Validation of a framework's Accept against its outstanding offers (docs/protocol.md,
// "Framework ↔ master"). Pure: it reads the offers through lookupOffer and throws the typed
// errors of common/errors.ts, whose messages name the field and the offending value. It
// changes nothing: the caller applies the plan, or on an error launches nothing.
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from "../common/errors.js";
import { TASK_ID_PATTERN } from "../common/ids.js";
import {
  checkCommand,
  checkEnv,
  checkLabels,
  LIMITS,
  type LimitProblem,
  utf8Bytes,
} from "../common/limits.js";
import {
  addResources,
  emptyResources,
  formatRanges,
  normalizeRanges,
  type Range,
  type Resources,
  rangesSubtract,
  SCALAR_NAMES,
  subtractResources,
} from "../common/resources.js";
import { agentExecutors, DEFAULT_EXECUTOR, KNOWN_EXECUTORS } from "../common/executors.js";
import type { HealthCheck, TaskInfo } from "../proto/gen/yard/v1/common.js";
import { type Operation, Operation_Type } from "../proto/gen/yard/v1/scheduler.js";
import type { OfferRecord } from "./allocator/offer-book.js";

export { DEFAULT_EXECUTOR, KNOWN_EXECUTORS };

/** Scalars are compared with this tolerance so that 0.1 + 0.2 fits in 0.3. */
const EPSILON = 1e-9;

export interface AcceptPlan {
  agentId: string;
  offers: OfferRecord[];
  /** Copies of the launched tasks with agentId filled in and executor defaulted. */
  tasks: TaskInfo[];
  /** What the tasks take, summed. */
  used: Resources;
  /** What the offers hold beyond `used`: back to the pool. */
  unused: Resources;
}

export interface AcceptInput {
  frameworkId: string;
  offerIds: string[];
  operations: Operation[];
  lookupOffer: (id: string) => OfferRecord | undefined;
  taskIdInUse: (taskId: string) => boolean;
  /** Executors the agent advertises; undefined skips the check, an empty list means "process". */
  agentExecutors?: (agentId: string) => string[] | undefined;
  /** When given, offers whose expiresAtMs is at or before it count as expired (NOT_FOUND). */
  nowMs?: number;
}

export function validateAccept(input: AcceptInput): AcceptPlan {
  const offers = validateOffers(input);
  const agentId = offers[0]!.agentId;
  let offered = emptyResources();
  for (const o of offers) offered = addResources(offered, o.resources);
  const advertised = input.agentExecutors?.(agentId);
  const executors = advertised === undefined ? undefined : agentExecutors(advertised);

  const tasks: TaskInfo[] = [];
  const seen = new Map<string, string>(); // task id → field path of its first use
  const claimed: { ranges: Range[]; path: string }[] = [];
  const sum = { cpus: 0, mem: 0, disk: 0 };
  let usedPorts: Range[] = [];

  input.operations.forEach((op, i) => {
    if (op.type !== Operation_Type.LAUNCH) {
      throw new InvalidArgumentError(
        `operations[${i}].type`,
        `${describeType(op.type)} is not a supported operation (LAUNCH)`,
      );
    }
    if (!op.launch) {
      throw new InvalidArgumentError(`operations[${i}].type`, "LAUNCH without a launch field");
    }
    op.launch.tasks.forEach((task, j) => {
      const p = `operations[${i}].launch.tasks[${j}]`;
      checkTaskId(task, p, seen, input.taskIdInUse);
      if (task.agentId !== "" && task.agentId !== agentId) {
        throw new InvalidArgumentError(
          `${p}.agent_id`,
          `"${task.agentId}" is not the offers' agent "${agentId}"`,
        );
      }
      const executor = task.executor === "" ? DEFAULT_EXECUTOR : task.executor;
      checkExecutor(executor, p, agentId, executors);
      if (executor === "docker") {
        if (!task.container?.image) {
          throw new InvalidArgumentError(`${p}.container.image`, "is empty: a docker task needs an image");
        }
      } else if (!task.command?.value?.trim()) {
        throw new InvalidArgumentError(`${p}.command.value`, "is empty: a process task needs a command");
      }
      checkTaskSize(task, p);
      if (!Number.isFinite(task.killGraceSeconds) || task.killGraceSeconds < 0) {
        throw new InvalidArgumentError(
          `${p}.kill_grace_seconds`,
          `${task.killGraceSeconds} is not a non-negative number`,
        );
      }
      const r = checkResources(task.resources, p);
      for (const s of SCALAR_NAMES) {
        const before = sum[s];
        sum[s] += r[s];
        if (r[s] > 0 && sum[s] > offered[s] + EPSILON) {
          const withBefore = before > 0 ? ` (with the tasks before it ${fmt(sum[s])})` : "";
          throw new InvalidArgumentError(
            `${p}.resources.${s}`,
            `${fmt(r[s])}${withBefore} is more than the offered ${fmt(offered[s])}`,
          );
        }
      }
      checkPorts(r.ports, `${p}.resources.ports`, offered.ports, claimed);
      if (task.healthCheck) checkHealthCheck(task.healthCheck, r.ports, `${p}.health_check`);
      usedPorts = usedPorts.concat(r.ports);
      tasks.push({ ...task, agentId, executor });
    });
  });

  const used: Resources = { cpus: sum.cpus, mem: sum.mem, disk: sum.disk, ports: normalizeRanges(usedPorts) };
  return { agentId, offers, tasks, used, unused: subtractResources(offered, used) };
}

/** All offers outstanding, the caller's, distinct and on one agent. */
function validateOffers(input: AcceptInput): OfferRecord[] {
  if (input.offerIds.length === 0) {
    throw new InvalidArgumentError("offer_ids", "is empty: an Accept names at least one offer");
  }
  const offers: OfferRecord[] = [];
  const seen = new Set<string>();
  input.offerIds.forEach((id, k) => {
    if (seen.has(id)) throw new InvalidArgumentError(`offer_ids[${k}]`, `"${id}" is listed twice`);
    seen.add(id);
    const offer = input.lookupOffer(id);
    if (!offer) throw new NotFoundError(`offer ${id} is not outstanding (unknown, expired or already used)`);
    if (input.nowMs !== undefined && offer.expiresAtMs <= input.nowMs) {
      throw new NotFoundError(`offer ${id} expired ${input.nowMs - offer.expiresAtMs} ms ago`);
    }
    if (offer.frameworkId !== input.frameworkId) {
      throw new FailedPreconditionError(
        `offer ${id} was made to another framework, not to ${input.frameworkId}`,
      );
    }
    const first = offers[0];
    if (first && offer.agentId !== first.agentId) {
      throw new FailedPreconditionError(
        `offers are on several agents: ${id} is on agent ${offer.agentId}, ${first.id} on agent ${first.agentId}`,
      );
    }
    offers.push(offer);
  });
  return offers;
}

/** A check the agent can run: a known kind, what that kind needs, durations >= 0. */
function checkHealthCheck(hc: HealthCheck, ports: readonly Range[], p: string): void {
  if (hc.kind !== "http" && hc.kind !== "tcp" && hc.kind !== "command") {
    throw new InvalidArgumentError(
      `${p}.kind`,
      `${JSON.stringify(hc.kind)} is not one of http, tcp, command`,
    );
  }
  if (hc.kind === "command" && hc.command.trim() === "") {
    throw new InvalidArgumentError(`${p}.command`, "is empty: a command check needs a command");
  }
  if (hc.kind === "http" && hc.httpPath !== "" && !hc.httpPath.startsWith("/")) {
    throw new InvalidArgumentError(
      `${p}.http_path`,
      `${JSON.stringify(hc.httpPath)} does not start with "/"`,
    );
  }
  const portCount = ports.reduce((n, r) => n + (r.end - r.begin + 1), 0);
  if (hc.kind !== "command" && hc.portIndex >= portCount) {
    throw new InvalidArgumentError(
      `${p}.port_index`,
      `${hc.portIndex} but the task has ${portCount} port(s)`,
    );
  }
  for (const [field, v] of [
    ["interval_seconds", hc.intervalSeconds],
    ["timeout_seconds", hc.timeoutSeconds],
    ["grace_period_seconds", hc.gracePeriodSeconds],
  ] as const) {
    if (!Number.isFinite(v) || v < 0)
      throw new InvalidArgumentError(`${p}.${field}`, `${v} is not a number of seconds >= 0`);
  }
}

function checkTaskId(
  task: TaskInfo,
  p: string,
  seen: Map<string, string>,
  taskIdInUse: (taskId: string) => boolean,
): void {
  const id = task.taskId;
  if (id === "") throw new InvalidArgumentError(`${p}.task_id`, "is empty");
  if (id.length > LIMITS.taskIdLength) {
    throw new InvalidArgumentError(
      `${p}.task_id`,
      `length ${id.length} is over the limit of ${LIMITS.taskIdLength}`,
    );
  }
  if (!TASK_ID_PATTERN.test(id)) {
    throw new InvalidArgumentError(
      `${p}.task_id`,
      `"${id}" is not a valid task id (letters, digits and ._:@-, starting with a letter or digit)`,
    );
  }
  const first = seen.get(id);
  if (first) throw new AlreadyExistsError(`task id "${id}" of ${p} is also used by ${first} of this Accept`);
  if (taskIdInUse(id)) throw new AlreadyExistsError(`task id "${id}" of ${p} is already in use`);
  seen.set(id, p);
}

/** The bounds of docs/protocol.md "Limits": what a task may carry to the agent and the kernel. */
function checkTaskSize(task: TaskInfo, p: string): void {
  const raise = (problem: LimitProblem | undefined) => {
    if (problem) throw new InvalidArgumentError(problem.field, problem.message);
  };
  const nameBytes = utf8Bytes(task.name);
  if (nameBytes > LIMITS.taskNameLength) {
    raise({
      field: `${p}.name`,
      message: `length ${nameBytes} is over the limit of ${LIMITS.taskNameLength}`,
    });
  }
  if (task.command) {
    raise(checkCommand(`${p}.command`, task.command.value, task.command.arguments));
    raise(checkEnv(`${p}.command.env`, task.command.env));
  }
  raise(checkLabels(`${p}.labels`, task.labels));
}

function checkExecutor(executor: string, p: string, agentId: string, advertised: string[] | undefined): void {
  if (!(KNOWN_EXECUTORS as readonly string[]).includes(executor)) {
    throw new InvalidArgumentError(
      `${p}.executor`,
      `"${executor}" is not a known executor (${KNOWN_EXECUTORS.join(", ")})`,
    );
  }
  if (advertised && !advertised.includes(executor)) {
    throw new InvalidArgumentError(
      `${p}.executor`,
      `"${executor}" is not available on agent ${agentId} (it runs: ${advertised.join(", ")})`,
    );
  }
}

/** Scalars finite and non-negative, cpus or mem positive, port ranges well-formed. */
function checkResources(r: Resources | undefined, p: string): Resources {
  if (!r)
    throw new InvalidArgumentError(`${p}.resources.cpus`, "is missing: a task needs cpus > 0 or mem > 0");
  for (const s of SCALAR_NAMES) {
    const v = r[s];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new InvalidArgumentError(`${p}.resources.${s}`, `${v} is not a non-negative number`);
    }
  }
  if (r.cpus === 0 && r.mem === 0) {
    throw new InvalidArgumentError(`${p}.resources.cpus`, "0 with mem 0: a task needs cpus > 0 or mem > 0");
  }
  for (const [k, range] of r.ports.entries()) {
    if (
      !Number.isInteger(range.begin) ||
      !Number.isInteger(range.end) ||
      range.begin > range.end ||
      range.end > 65535
    ) {
      throw new InvalidArgumentError(
        `${p}.resources.ports[${k}]`,
        `${range.begin}-${range.end} is not a valid port range`,
      );
    }
  }
  return r;
}

/** Every port in the offered ranges and claimed by one task only; records the claim. */
function checkPorts(
  ports: Range[],
  field: string,
  offered: Range[],
  claimed: { ranges: Range[]; path: string }[],
): void {
  if (ports.length === 0) return;
  // Within one task, overlapping ranges claim a port twice as well.
  const own: Range[] = [];
  for (const range of ports) {
    const dup = firstCommonPort([range], own);
    if (dup !== undefined) throw new InvalidArgumentError(field, `port ${dup} is claimed twice by this task`);
    own.push(range);
  }
  const outside = rangesSubtract(ports, offered);
  if (outside.length > 0) {
    throw new InvalidArgumentError(
      field,
      `port ${outside[0]!.begin} is not in the offered ranges ${formatRanges(offered)}`,
    );
  }
  for (const c of claimed) {
    const dup = firstCommonPort(ports, c.ranges);
    if (dup !== undefined) throw new InvalidArgumentError(field, `port ${dup} is also claimed by ${c.path}`);
  }
  claimed.push({ ranges: ports, path: field.replace(/\.resources\.ports$/, "") });
}

/** The lowest port in both a and b, or undefined. */
function firstCommonPort(a: Range[], b: Range[]): number | undefined {
  let lowest: number | undefined;
  for (const x of a) {
    for (const y of b) {
      const begin = Math.max(x.begin, y.begin);
      if (begin <= Math.min(x.end, y.end) && (lowest === undefined || begin < lowest)) lowest = begin;
    }
  }
  return lowest;
}

function describeType(t: Operation_Type): string {
  return t === Operation_Type.UNKNOWN ? "UNKNOWN" : `${t}`;
}

function fmt(x: number): string {
  return `${Math.round(x * 1000) / 1000}`;
}
