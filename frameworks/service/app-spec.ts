// The app spec: YAML in, a validated AppSpec out. Pure. Validation walks the whole file and
// reports every problem at once, each with its path in the file
// (`rollout.steps[2]: 150% is over 100%`), so that an operator fixes a file in one pass;
// a spec with any problem applies nothing.
import { parse as parseYaml } from "yaml";
import {
  checkCommand,
  checkEnv,
  formatBytes,
  LIMITS,
  type LimitProblem,
  utf8Bytes,
} from "../../common/limits.js";

/** A count of instances, absolute or as a percentage of `instances`. */
export type Amount = { count: number } | { percent: number };

export interface HealthCheck {
  kind: "http" | "tcp" | "command";
  /** http: the path to GET. */
  path: string;
  /** Which of the instance's ports (PORT<n>) http and tcp checks dial. */
  portIndex: number;
  /** command: run by the agent under /bin/sh -c inside the instance, with its environment (PORT, PORT0...). */
  command: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** Failures within this long after the instance starts do not count. */
  gracePeriodSeconds: number;
  /** Consecutive failures before the instance is unhealthy (and replaced). */
  failures: number;
}

export type ConstraintOp = "UNIQUE" | "GROUP_BY" | "LIKE" | "UNLIKE";

export interface Constraint {
  /** "hostname" or an agent attribute name. */
  field: string;
  op: ConstraintOp;
  /** The regex of LIKE/UNLIKE (anchored: it must match the whole value). */
  value: string;
}

export interface RolloutPolicy {
  /** New-revision instances wanted after each step; the last step is always 100%. */
  steps: Amount[];
  maxSurge: Amount;
  maxUnavailable: Amount;
  /** Seconds to wait between steps. */
  pauseSeconds: number;
  /** Wait for `yardctl rollout promote` after each step but the last. */
  manualPromotion: boolean;
  minHealthySeconds: number;
  progressDeadlineSeconds: number;
  autoRollback: boolean;
  /** New-revision instances that may exit or turn unhealthy before the deployment fails. */
  maxFailures: number;
  /**
   * Where the release is staged ahead (wave-plan.ts): "next", the agents of step k+1 while
   * step k runs (the default, also when unset); "all", every agent before step 1. Set only
   * when the spec says so, so specs applied before it existed compare equal.
   */
  stage?: StageMode;
}

export type StageMode = "next" | "all";
export const STAGE_MODES: readonly StageMode[] = ["next", "all"];

export function stageModeOf(policy: RolloutPolicy): StageMode {
  return policy.stage ?? "next";
}

/** What to do with an instance whose agent is unreachable (Marathon's unreachable strategy). */
export interface UnreachablePolicy {
  /**
   * Seconds an UNREACHABLE instance may take to come back before it is replaced (and, should
   * its agent return, stopped). It counts as unavailable meanwhile.
   */
  replaceAfterSeconds: number;
}

export const DEFAULT_UNREACHABLE: UnreachablePolicy = { replaceAfterSeconds: 60 };

export interface AppSpec {
  name: string;
  /** NAME@VERSION from the distributor, fetched by the agent before the task starts. */
  release: string;
  image: string;
  command: string;
  env: Record<string, string>;
  instances: number;
  resources: { cpus: number; mem: number; disk: number; ports: number };
  healthCheck?: HealthCheck;
  constraints: Constraint[];
  rollout: RolloutPolicy;
  killGraceSeconds: number;
  /** Absent in revisions stored before it existed: read it with unreachablePolicy(). */
  unreachable: UnreachablePolicy;
}

/** The spec's unreachable policy, the default for revisions stored before it existed. */
export function unreachablePolicy(spec: AppSpec): UnreachablePolicy {
  return spec.unreachable ?? DEFAULT_UNREACHABLE;
}

/** A spec that failed validation: every problem, each "path: message". */
export class SpecError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
    this.name = "SpecError";
  }
}

export const APP_NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const RELEASE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9._+-]*$/;
const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const DEFAULT_ROLLOUT: RolloutPolicy = {
  steps: [{ percent: 100 }],
  maxSurge: { percent: 25 },
  maxUnavailable: { percent: 25 },
  pauseSeconds: 0,
  manualPromotion: false,
  minHealthySeconds: 5,
  progressDeadlineSeconds: 300,
  autoRollback: true,
  maxFailures: 3,
};

type Obj = Record<string, unknown>;

function show(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : (JSON.stringify(v) ?? String(v));
}

class Checker {
  readonly problems: string[] = [];

  fail(path: string, message: string): void {
    this.problems.push(`${path}: ${message}`);
  }

  limit(problem: LimitProblem | undefined): void {
    if (problem) this.fail(problem.field, problem.message);
  }

  map(v: unknown, path: string): Obj | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "object" || Array.isArray(v)) {
      this.fail(path, `${show(v)} is not a map`);
      return undefined;
    }
    return v as Obj;
  }

  /** Reports keys the spec does not know, so that a typo is not silently ignored. */
  known(o: Obj, path: string, keys: readonly string[]): void {
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) this.fail(path ? `${path}.${k}` : k, `unknown key (known: ${keys.join(", ")})`);
    }
  }

  text(v: unknown, path: string, required = false): string {
    if (v === undefined || v === null) {
      if (required) this.fail(path, "is required");
      return "";
    }
    if (typeof v !== "string" && typeof v !== "number") {
      this.fail(path, `${show(v)} is not a string`);
      return "";
    }
    return String(v);
  }

  number(
    v: unknown,
    path: string,
    dflt: number,
    opts: { min?: number; int?: boolean; positive?: boolean; max?: number } = {},
  ) {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      this.fail(path, `${show(v)} is not a number`);
      return dflt;
    }
    if (opts.int && !Number.isInteger(v)) this.fail(path, `${v} is not a whole number`);
    else if (opts.positive && v <= 0) this.fail(path, `${v} must be more than 0`);
    else if (v < (opts.min ?? 0)) this.fail(path, `${v} must be at least ${opts.min ?? 0}`);
    else if (opts.max !== undefined && v > opts.max) {
      this.fail(path, `${v} is over the limit of ${opts.max.toLocaleString("en-US")}`);
      return dflt;
    }
    return v;
  }

  bool(v: unknown, path: string, dflt: boolean): boolean {
    if (v === undefined || v === null) return dflt;
    if (typeof v !== "boolean") {
      this.fail(path, `${show(v)} is not true or false`);
      return dflt;
    }
    return v;
  }

  /** Seconds: a number, or a string like "500ms", "10s", "2m", "1h". */
  duration(v: unknown, path: string, dflt: number): number {
    if (v === undefined || v === null) return dflt;
    if (typeof v === "number" && Number.isFinite(v) && v >= 0) return v;
    if (typeof v === "string") {
      const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
      if (m) {
        const n = Number(m[1]);
        const unit = m[2] ?? "s";
        return unit === "ms" ? n / 1000 : unit === "m" ? n * 60 : unit === "h" ? n * 3600 : n;
      }
    }
    this.fail(path, `${show(v)} is not a duration (seconds, or e.g. "500ms", "10s", "2m")`);
    return dflt;
  }

  /** A whole count, or a percentage "25%" (0..100). */
  amount(v: unknown, path: string, dflt: Amount): Amount {
    if (v === undefined || v === null) return dflt;
    if (typeof v === "number") {
      if (!Number.isInteger(v) || v < 0) {
        this.fail(path, `${v} is not a whole number of instances`);
        return dflt;
      }
      return this.count(v, path, dflt);
    }
    if (typeof v === "string") {
      const m = /^(\d+(?:\.\d+)?)%$/.exec(v.trim());
      if (m) {
        const p = Number(m[1]);
        if (p > 100) {
          this.fail(path, `${v} is over 100%`);
          return dflt;
        }
        return { percent: p };
      }
      if (/^\d+$/.test(v.trim())) return this.count(Number(v.trim()), path, dflt);
    }
    this.fail(path, `${show(v)} is not a count or a percentage like "25%"`);
    return dflt;
  }

  private count(n: number, path: string, dflt: Amount): Amount {
    if (n <= LIMITS.instances) return { count: n };
    this.fail(path, `${n} is over the limit of ${LIMITS.instances.toLocaleString("en-US")} instances`);
    return dflt;
  }
}

function parseHealthCheck(c: Checker, raw: unknown): HealthCheck | undefined {
  const o = c.map(raw, "health_check");
  if (!o) return undefined;
  c.known(o, "health_check", ["http", "tcp", "command", "interval", "timeout", "grace_period", "failures"]);
  const kinds = (["http", "tcp", "command"] as const).filter((k) => o[k] !== undefined && o[k] !== null);
  if (kinds.length !== 1) {
    c.fail("health_check", `give exactly one of http, tcp or command (found ${kinds.length})`);
    return undefined;
  }
  const kind = kinds[0]!;
  const hc: HealthCheck = {
    kind,
    path: "/",
    portIndex: 0,
    command: "",
    intervalSeconds: c.duration(o.interval, "health_check.interval", 2),
    timeoutSeconds: c.duration(o.timeout, "health_check.timeout", 1),
    gracePeriodSeconds: c.duration(o.grace_period, "health_check.grace_period", 10),
    failures: c.number(o.failures, "health_check.failures", 3, { int: true, positive: true }),
  };
  if (hc.intervalSeconds <= 0) c.fail("health_check.interval", `${show(o.interval)} must be more than 0`);
  if (hc.timeoutSeconds <= 0) c.fail("health_check.timeout", `${show(o.timeout)} must be more than 0`);
  if (kind === "command") {
    hc.command = c.text(o.command, "health_check.command", true);
    if (hc.command.trim() === "") c.fail("health_check.command", "must not be empty");
    return hc;
  }
  const sub = o[kind];
  if (kind === "http" && typeof sub === "string") {
    hc.path = sub;
  } else if (sub !== true) {
    const so = c.map(sub, `health_check.${kind}`);
    if (so) {
      c.known(so, `health_check.${kind}`, kind === "http" ? ["path", "port_index"] : ["port_index"]);
      if (kind === "http") hc.path = c.text(so.path, "health_check.http.path") || "/";
      hc.portIndex = c.number(so.port_index, `health_check.${kind}.port_index`, 0, { int: true });
    }
  }
  if (kind === "http" && !hc.path.startsWith("/")) {
    c.fail("health_check.http.path", `${show(hc.path)} must start with "/"`);
  }
  return hc;
}

function parseConstraints(c: Checker, raw: unknown): Constraint[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    c.fail("constraints", `${show(raw)} is not a list`);
    return [];
  }
  const out: Constraint[] = [];
  raw.forEach((item, i) => {
    const path = `constraints[${i}]`;
    let parts: string[];
    if (typeof item === "string") parts = item.trim().split(/\s+/);
    else if (Array.isArray(item) && item.every((x) => typeof x === "string")) parts = item as string[];
    else {
      c.fail(path, `${show(item)} is not "FIELD OPERATOR [VALUE]"`);
      return;
    }
    const [field = "", opRaw = "", ...rest] = parts;
    const op = opRaw.toUpperCase();
    const value = rest.join(" ");
    if (!/^[A-Za-z0-9_.-]+$/.test(field)) {
      c.fail(path, `${show(field)} is not an attribute name`);
      return;
    }
    if (op === "UNIQUE" || op === "GROUP_BY") {
      if (value !== "") c.fail(path, `${op} takes no value (found ${show(value)})`);
      else out.push({ field, op, value: "" });
    } else if (op === "LIKE" || op === "UNLIKE") {
      if (value === "") {
        c.fail(path, `${op} needs a regular expression`);
        return;
      }
      try {
        new RegExp(`^(?:${value})$`);
        out.push({ field, op, value });
      } catch (err) {
        c.fail(path, `${show(value)} is not a regular expression (${(err as Error).message})`);
      }
    } else {
      c.fail(path, `${show(opRaw)} is not an operator (UNIQUE, GROUP_BY, LIKE, UNLIKE)`);
    }
  });
  return out;
}

function parseUnreachable(c: Checker, raw: unknown): UnreachablePolicy {
  const o = c.map(raw, "unreachable");
  if (!o) return { ...DEFAULT_UNREACHABLE };
  c.known(o, "unreachable", ["replace_after"]);
  return {
    replaceAfterSeconds: c.duration(
      o.replace_after,
      "unreachable.replace_after",
      DEFAULT_UNREACHABLE.replaceAfterSeconds,
    ),
  };
}

function parseRollout(c: Checker, raw: unknown): RolloutPolicy {
  const o = c.map(raw, "rollout");
  const d = DEFAULT_ROLLOUT;
  if (!o) return { ...d };
  c.known(o, "rollout", [
    "steps",
    "max_surge",
    "max_unavailable",
    "pause",
    "min_healthy_time",
    "progress_deadline",
    "auto_rollback",
    "max_failures",
    "stage",
  ]);
  let steps: Amount[] = d.steps;
  if (o.steps !== undefined && o.steps !== null) {
    if (!Array.isArray(o.steps) || o.steps.length === 0) {
      c.fail("rollout.steps", `${show(o.steps)} is not a non-empty list`);
    } else if (o.steps.length > LIMITS.rolloutSteps) {
      c.fail("rollout.steps", `${o.steps.length} steps is over the limit of ${LIMITS.rolloutSteps}`);
    } else {
      steps = o.steps.map((s, i) => c.amount(s, `rollout.steps[${i}]`, { percent: 100 }));
    }
  }
  const manual = o.pause === "manual";
  const policy: RolloutPolicy = {
    steps,
    maxSurge: c.amount(o.max_surge, "rollout.max_surge", d.maxSurge),
    maxUnavailable: c.amount(o.max_unavailable, "rollout.max_unavailable", d.maxUnavailable),
    pauseSeconds: manual ? 0 : c.duration(o.pause, "rollout.pause", d.pauseSeconds),
    manualPromotion: manual,
    minHealthySeconds: c.duration(o.min_healthy_time, "rollout.min_healthy_time", d.minHealthySeconds),
    progressDeadlineSeconds: c.duration(
      o.progress_deadline,
      "rollout.progress_deadline",
      d.progressDeadlineSeconds,
    ),
    autoRollback: c.bool(o.auto_rollback, "rollout.auto_rollback", d.autoRollback),
    maxFailures: c.number(o.max_failures, "rollout.max_failures", d.maxFailures, {
      int: true,
      max: LIMITS.instances,
    }),
  };
  if (o.stage !== undefined && o.stage !== null) {
    if (STAGE_MODES.includes(o.stage as StageMode)) policy.stage = o.stage as StageMode;
    else c.fail("rollout.stage", `${show(o.stage)} is not a staging mode (${STAGE_MODES.join(", ")})`);
  }
  if (policy.progressDeadlineSeconds <= 0) {
    c.fail("rollout.progress_deadline", `${show(o.progress_deadline)} must be more than 0`);
  }
  return policy;
}

/** Parses and validates a YAML app spec; throws SpecError with every problem found. */
export function parseAppSpec(yamlText: string): AppSpec {
  // Before parsing: a huge file must cost neither the parser's time nor its memory.
  const size = utf8Bytes(yamlText);
  if (size > LIMITS.specBytes) {
    throw new SpecError([
      `(file): the spec is ${formatBytes(size)}, over the limit of ${formatBytes(LIMITS.specBytes)}`,
    ]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(yamlText);
  } catch (err) {
    throw new SpecError([`(file): not valid YAML: ${(err as Error).message.split("\n")[0]}`]);
  }
  return validateAppSpec(doc);
}

/** Validates a spec already parsed from YAML or JSON (snake_case keys). */
export function validateAppSpec(doc: unknown): AppSpec {
  const c = new Checker();
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    throw new SpecError(["(file): an app spec is a map (name, command, instances, ...)"]);
  }
  const o = doc as Obj;
  c.known(o, "", [
    "name",
    "release",
    "image",
    "command",
    "env",
    "instances",
    "resources",
    "health_check",
    "constraints",
    "rollout",
    "kill_grace",
    "unreachable",
  ]);
  const name = c.text(o.name, "name", true);
  if (name && !APP_NAME_PATTERN.test(name)) {
    c.fail("name", `${show(name)} is not a valid app name (lowercase letters, digits and -, up to 63)`);
  }
  const release = c.text(o.release, "release");
  if (release && !RELEASE_PATTERN.test(release)) c.fail("release", `${show(release)} is not NAME@VERSION`);
  const image = c.text(o.image, "image");
  const command = c.text(o.command, "command");
  if (!command.trim() && !image) c.fail("command", "is required (or give an image)");
  c.limit(checkCommand("command", command));
  const env: Record<string, string> = {};
  const envMap = c.map(o.env, "env");
  for (const [k, v] of Object.entries(envMap ?? {})) {
    if (!ENV_NAME_PATTERN.test(k)) c.fail(`env.${k}`, "is not a valid variable name");
    else if (v === null || typeof v === "object") c.fail(`env.${k}`, `${show(v)} is not a string`);
    else env[k] = String(v);
  }
  c.limit(checkEnv("env", env, true));
  const instances = c.number(o.instances, "instances", 1, { int: true, max: LIMITS.instances });
  const r = c.map(o.resources, "resources") ?? {};
  c.known(r, "resources", ["cpus", "mem", "disk", "ports"]);
  const resources = {
    cpus: c.number(r.cpus, "resources.cpus", 0.1),
    mem: c.number(r.mem, "resources.mem", 64),
    disk: c.number(r.disk, "resources.disk", 0),
    ports: c.number(r.ports, "resources.ports", 1, { int: true, max: LIMITS.portsPerTask }),
  };
  if (resources.cpus <= 0 && resources.mem <= 0) c.fail("resources", "cpus or mem must be more than 0");
  const healthCheck = parseHealthCheck(c, o.health_check);
  if (healthCheck && healthCheck.kind !== "command" && healthCheck.portIndex >= resources.ports) {
    c.fail(
      `health_check.${healthCheck.kind}.port_index`,
      `${healthCheck.portIndex} but the app asks for ${resources.ports} port(s) (resources.ports)`,
    );
  }
  const constraints = parseConstraints(c, o.constraints);
  const rollout = parseRollout(c, o.rollout);
  rollout.steps.forEach((step, i) => {
    const prev = i > 0 ? amountOf(rollout.steps[i - 1]!, instances, "up") : 0;
    if (i > 0 && amountOf(step, instances, "up") < prev) {
      c.fail(`rollout.steps[${i}]`, "steps must not go down");
    }
  });
  const last = rollout.steps[rollout.steps.length - 1];
  if (last && amountOf(last, instances, "up") < instances) {
    c.fail(`rollout.steps[${rollout.steps.length - 1}]`, "the last step must be 100% (or all instances)");
  }
  if (
    amountOf(rollout.maxSurge, instances, "up") === 0 &&
    amountOf(rollout.maxUnavailable, instances, "down") === 0
  ) {
    c.fail("rollout", "max_surge and max_unavailable are both 0: no instance could ever be replaced");
  }
  const killGraceSeconds = c.duration(o.kill_grace, "kill_grace", 5);
  const unreachable = parseUnreachable(c, o.unreachable);
  if (c.problems.length > 0) throw new SpecError(c.problems);
  return {
    name,
    release,
    image,
    command,
    env,
    instances,
    resources,
    healthCheck,
    constraints,
    rollout,
    killGraceSeconds,
    unreachable,
  };
}

/**
 * An amount as a number of instances out of `total`. Percentages round up for surge and
 * steps (progress is never stuck at 0) and down for unavailability (never below the floor
 * the operator asked for), the way Kubernetes rounds maxSurge and maxUnavailable.
 */
export function amountOf(a: Amount, total: number, round: "up" | "down"): number {
  if ("count" in a) return a.count;
  const exact = (a.percent * total) / 100;
  // 1e-9 absorbs float noise such as 10% of 30 = 3.0000000000000004.
  return round === "up" ? Math.ceil(exact - 1e-9) : Math.floor(exact + 1e-9);
}

/** Two specs differ only in `instances`: a scale, not a rollout. */
export function sameExceptInstances(a: AppSpec, b: AppSpec): boolean {
  return canonical({ ...a, instances: 0 }) === canonical({ ...b, instances: 0 });
}

export function canonical(spec: AppSpec): string {
  return JSON.stringify(spec);
}
