// Validation of a submitted JobSpec: every error names the field and the value.
import { randomBytes } from "node:crypto";
import { InvalidArgumentError } from "../../common/errors.js";
import { checkCommand, checkEnv, LIMITS } from "../../common/limits.js";
import type { JobSpec } from "../../proto/gen/yard/v1/batch.js";

/** Job names become part of task ids (`<job id>.<index>.<attempt>`), hence no dots. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
export const MAX_TASKS = LIMITS.instances;
export const MAX_RETRIES = 100;
export const MAX_PORTS = 100;

function nonNegative(field: string, v: number): void {
  if (!Number.isFinite(v) || v < 0)
    throw new InvalidArgumentError(field, `${v} is not a non-negative number`);
}

/** Returns a normalized copy of `spec`, or throws InvalidArgumentError. */
export function validateJobSpec(spec: JobSpec | undefined): JobSpec {
  if (!spec) throw new InvalidArgumentError("spec", "is required");
  if (spec.name !== "" && !NAME_PATTERN.test(spec.name)) {
    throw new InvalidArgumentError(
      "spec.name",
      `${JSON.stringify(spec.name)} must be letters, digits, _ or - (at most 63, no dots)`,
    );
  }
  const executor = spec.executor || "process";
  if (executor !== "process" && executor !== "docker") {
    throw new InvalidArgumentError(
      "spec.executor",
      `${JSON.stringify(spec.executor)} is not "process" or "docker"`,
    );
  }
  const image = spec.container?.image ?? "";
  if (executor === "docker" && image === "") {
    throw new InvalidArgumentError("spec.container.image", "the docker executor needs an image");
  }
  if (image === "" && (!spec.command || spec.command.value.trim() === "")) {
    throw new InvalidArgumentError("spec.command.value", "is empty (give a command to run)");
  }
  if (spec.command) {
    const problem =
      checkCommand("spec.command", spec.command.value, spec.command.arguments) ??
      checkEnv("spec.command.env", spec.command.env, true);
    if (problem) throw new InvalidArgumentError(problem.field, problem.message);
  }
  const r = spec.resources;
  if (!r) throw new InvalidArgumentError("spec.resources", "is required (cpus and/or mem per task)");
  nonNegative("spec.resources.cpus", r.cpus);
  nonNegative("spec.resources.mem", r.mem);
  nonNegative("spec.resources.disk", r.disk);
  if (r.cpus <= 0 && r.mem <= 0) {
    throw new InvalidArgumentError("spec.resources", "a task needs cpus > 0 or mem > 0");
  }
  if (r.ports.length > 0) {
    throw new InvalidArgumentError("spec.resources.ports", "give a number of ports in spec.ports instead");
  }
  if (!Number.isInteger(spec.tasks) || spec.tasks < 1 || spec.tasks > MAX_TASKS) {
    throw new InvalidArgumentError("spec.tasks", `${spec.tasks} must be between 1 and ${MAX_TASKS}`);
  }
  if (spec.maxRetries > MAX_RETRIES) {
    throw new InvalidArgumentError("spec.max_retries", `${spec.maxRetries} is more than ${MAX_RETRIES}`);
  }
  if (spec.ports > MAX_PORTS) {
    throw new InvalidArgumentError("spec.ports", `${spec.ports} is more than ${MAX_PORTS}`);
  }
  return {
    name: spec.name,
    command: spec.command
      ? {
          value: spec.command.value,
          arguments: [...spec.command.arguments],
          shell: spec.command.shell,
          env: { ...spec.command.env },
        }
      : undefined,
    resources: { cpus: r.cpus, mem: r.mem, disk: r.disk, ports: [] },
    tasks: spec.tasks,
    maxRetries: spec.maxRetries,
    ports: spec.ports,
    executor: spec.executor,
    container: image ? { image } : undefined,
  };
}

/** A fresh job id, readable in task ids: `<name>-<8 hex>` (name defaults to "job"). */
export function newJobId(name: string): string {
  return `${name || "job"}-${randomBytes(4).toString("hex")}`;
}
