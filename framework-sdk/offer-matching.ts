// Pure helpers to match task requirements against offers and to build TaskInfos.
// No I/O: a framework calls these inside its `offers` handler and hands the result to
// SchedulerDriver.accept. Arithmetic reuses the shared resource math, so what fits here
// fits in the master's Accept validation too.
import {
  cloneResources,
  containsResources,
  emptyResources,
  firstPorts,
  normalizeRanges,
  portsToRanges,
  rangesCount,
  subtractResources,
} from "../common/resources.js";
import { runsExecutor } from "../common/executors.js";
import { TASK_ID_PATTERN } from "../common/ids.js";
import type {
  CommandInfo,
  HealthCheck,
  Offer,
  Range,
  Resources,
  TaskInfo,
} from "../proto/gen/yard/v1/common.js";
import { SdkArgumentError } from "./errors.js";

/** What one task needs: scalars, and a number of ports (concrete ports are picked from the offer). */
export interface TaskRequirement {
  cpus: number;
  /** MiB. */
  mem: number;
  /** MiB. */
  disk?: number;
  /** How many ports. */
  ports?: number;
}

/** One requirement that fits, with the concrete resources its task gets. */
export interface TaskPlacement {
  /** Index of the requirement in the list given to takeTasks. */
  index: number;
  resources: Resources;
}

export interface TakeResult {
  /** Requirements that fit, in the order given. */
  placed: TaskPlacement[];
  /** Indexes of the requirements that did not fit. */
  unplaced: number[];
  /** What is left of the offer after the placed tasks. */
  remaining: Resources;
}

function offerResources(offer: Offer | Resources): Resources {
  if ("cpus" in offer) return offer;
  return offer.resources ?? emptyResources();
}

function isRequirement(need: Resources | TaskRequirement): need is TaskRequirement {
  return !Array.isArray(need.ports);
}

function checkRequirement(req: TaskRequirement, field: string): void {
  for (const name of ["cpus", "mem", "disk", "ports"] as const) {
    const v = req[name];
    if (v === undefined && (name === "disk" || name === "ports")) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new SdkArgumentError(`${field}.${name}`, `${String(v)} is not a non-negative number`);
    }
  }
  if (req.ports !== undefined && !Number.isInteger(req.ports)) {
    throw new SdkArgumentError(`${field}.ports`, `${req.ports} is not a whole number of ports`);
  }
}

/**
 * True when `need` fits in `have`. `need` is either concrete Resources (ports must lie in
 * the offered ranges) or a TaskRequirement (enough free ports must exist).
 */
export function fits(have: Offer | Resources, need: Resources | TaskRequirement): boolean {
  const res = offerResources(have);
  if (!isRequirement(need)) return containsResources(res, need);
  const scalars: Resources = { cpus: need.cpus, mem: need.mem, disk: need.disk ?? 0, ports: [] };
  return containsResources(res, scalars) && rangesCount(normalizeRanges(res.ports)) >= (need.ports ?? 0);
}

/**
 * Places requirements into one offer, greedily in the order given: each one that fits in
 * what is left takes its scalars and its ports (the lowest free ones, never a port twice).
 * A requirement that does not fit is skipped and a later, smaller one may still fit.
 */
export function takeTasks(offer: Offer | Resources, requirements: readonly TaskRequirement[]): TakeResult {
  requirements.forEach((r, i) => {
    checkRequirement(r, `requirements[${i}]`);
  });
  let left = cloneResources(offerResources(offer));
  left.ports = normalizeRanges(left.ports);
  const placed: TaskPlacement[] = [];
  const unplaced: number[] = [];
  requirements.forEach((req, index) => {
    if (!fits(left, req)) {
      unplaced.push(index);
      return;
    }
    const ports = portsToRanges(firstPorts(left.ports, req.ports ?? 0));
    const resources: Resources = { cpus: req.cpus, mem: req.mem, disk: req.disk ?? 0, ports };
    left = subtractResources(left, resources);
    placed.push({ index, resources });
  });
  return { placed, unplaced, remaining: left };
}

/** What is left of an offer after `used` (resources, or tasks whose resources count). */
export function remaining(
  offer: Offer | Resources,
  used: Resources | readonly (Resources | TaskInfo)[],
): Resources {
  const list = Array.isArray(used) ? used : [used as Resources];
  let left = cloneResources(offerResources(offer));
  for (const u of list) {
    const r = "cpus" in u ? u : u.resources;
    if (r) left = subtractResources(left, r);
  }
  return left;
}

/** Everything a task needs, in plain fields; see taskInfo. */
export interface TaskSpec {
  taskId: string;
  /** Defaults to the task id. */
  name?: string;
  /** Filled in by SchedulerDriver.launch (and by the master when empty). */
  agentId?: string;
  /** A string runs under /bin/sh -c; an object gives the executable and its argv. */
  command?: string | { value: string; arguments?: string[]; shell?: boolean };
  env?: Record<string, string>;
  cpus: number;
  mem: number;
  disk?: number;
  /** Concrete ports, e.g. from takeTasks' placement. */
  ports?: Range[];
  /** "process" (default) or "docker" (the default when `image` is given). */
  executor?: string;
  image?: string;
  labels?: Record<string, string>;
  /** SIGTERM, then SIGKILL after this many seconds; 0 = the agent's default. */
  killGraceSeconds?: number;
  /** NAME@VERSION of a release the agent fetches (and verifies) before starting the task. */
  release?: string;
  /** A check the agent runs next to the task; its verdict comes back in TaskStatus.health. */
  healthCheck?: HealthCheck;
}

/**
 * True when the offer's agent can run a task of `executor` ("" = process). An offer that
 * lists no executors comes from an agent that runs plain processes only (common/executors.ts).
 */
export function offerRunsExecutor(offer: Pick<Offer, "executors">, executor: string): boolean {
  return runsExecutor(offer.executors, executor);
}

/** Builds a TaskInfo from plain fields, checking them first (the error names the field). */
export function taskInfo(spec: TaskSpec): TaskInfo {
  if (typeof spec.taskId !== "string" || !TASK_ID_PATTERN.test(spec.taskId)) {
    throw new SdkArgumentError(
      "taskId",
      `${JSON.stringify(spec.taskId)} is not a valid task id (letters, digits, . _ : @ -, not starting with a symbol)`,
    );
  }
  checkRequirement({ cpus: spec.cpus, mem: spec.mem, disk: spec.disk }, "task");
  if (spec.cpus <= 0 && spec.mem <= 0) {
    throw new SdkArgumentError("cpus", "a task needs cpus > 0 or mem > 0");
  }
  let command: CommandInfo | undefined;
  if (typeof spec.command === "string") {
    command = { value: spec.command, arguments: [], shell: true, env: { ...(spec.env ?? {}) } };
  } else if (spec.command) {
    command = {
      value: spec.command.value,
      arguments: [...(spec.command.arguments ?? [])],
      shell: spec.command.shell ?? false,
      env: { ...(spec.env ?? {}) },
    };
  } else if (spec.image) {
    command = { value: "", arguments: [], shell: false, env: { ...(spec.env ?? {}) } };
  }
  if (!spec.image && (!command || command.value.trim() === "")) {
    throw new SdkArgumentError("command", "a task needs a non-empty command (or an image)");
  }
  if (spec.killGraceSeconds !== undefined && !(spec.killGraceSeconds >= 0)) {
    throw new SdkArgumentError("killGraceSeconds", `${spec.killGraceSeconds} is not a non-negative number`);
  }
  return {
    taskId: spec.taskId,
    name: spec.name ?? spec.taskId,
    agentId: spec.agentId ?? "",
    resources: {
      cpus: spec.cpus,
      mem: spec.mem,
      disk: spec.disk ?? 0,
      ports: normalizeRanges(spec.ports ?? []),
    },
    command,
    container: spec.image ? { image: spec.image } : undefined,
    executor: spec.executor ?? (spec.image ? "docker" : ""),
    labels: { ...(spec.labels ?? {}) },
    killGraceSeconds: spec.killGraceSeconds ?? 0,
    release: spec.release ?? "",
    healthCheck: spec.healthCheck && { ...spec.healthCheck },
  };
}

/** Fluent form of taskInfo, for frameworks that assemble a task step by step. */
export class TaskBuilder {
  private readonly spec: TaskSpec;

  constructor(taskId: string) {
    this.spec = { taskId, cpus: 0, mem: 0 };
  }

  name(name: string): this {
    this.spec.name = name;
    return this;
  }

  /** A string runs under /bin/sh -c; with `args` it is exec'd with that argv. */
  command(value: string, args?: string[]): this {
    this.spec.command = args ? { value, arguments: args, shell: false } : value;
    return this;
  }

  env(vars: Record<string, string>): this {
    this.spec.env = { ...(this.spec.env ?? {}), ...vars };
    return this;
  }

  /** Scalars and concrete ports, e.g. a TaskPlacement's resources. */
  resources(r: { cpus: number; mem: number; disk?: number; ports?: Range[] }): this {
    this.spec.cpus = r.cpus;
    this.spec.mem = r.mem;
    this.spec.disk = r.disk;
    if (r.ports) this.spec.ports = r.ports;
    return this;
  }

  /** Places the task on the offer's agent. */
  onAgent(agentId: string): this {
    this.spec.agentId = agentId;
    return this;
  }

  image(image: string): this {
    this.spec.image = image;
    return this;
  }

  executor(executor: string): this {
    this.spec.executor = executor;
    return this;
  }

  labels(labels: Record<string, string>): this {
    this.spec.labels = { ...(this.spec.labels ?? {}), ...labels };
    return this;
  }

  killGraceSeconds(seconds: number): this {
    this.spec.killGraceSeconds = seconds;
    return this;
  }

  build(): TaskInfo {
    return taskInfo(this.spec);
  }
}
