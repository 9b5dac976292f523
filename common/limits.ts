// Every bound on input that Yard enforces, in one place (docs/protocol.md, "Limits").
//
// Each limit protects a daemon from one peer's bad input: a spec, an Accept or a status that
// is too big would otherwise grow memory, break serialization of views that hold every app,
// fail at the kernel (a command past ARG_MAX fails with E2BIG) or fill the registry. Checks
// are pure: they return the problem as "field: value ... limit" text, or nothing, and each
// caller raises it in its own error type (SpecError, InvalidArgumentError).

const KiB = 1024;
const MiB = 1024 * KiB;

export const LIMITS = {
  /** Instances of one app, and any count of instances in its rollout policy. */
  instances: 10_000,
  /** An app spec, in bytes of YAML, checked before it is parsed. */
  specBytes: 256 * KiB,
  /** A task's command: its value plus its arguments, in UTF-8 bytes. Linux refuses one argument past 128 KiB. */
  commandBytes: 64 * KiB,
  /** Arguments of one command. */
  commandArgs: 1_024,
  /** Environment variables of one task. */
  envVars: 1_024,
  /** A task's environment, names plus values, in UTF-8 bytes. */
  envBytes: 64 * KiB,
  /**
   * Room a framework keeps for the variables it adds itself (YARD_APP, YARD_TASK_INDEX, ...):
   * a spec's environment is held to the limits above minus this, so that no spec the
   * framework accepts makes a launch the master refuses.
   */
  envReservedVars: 16,
  envReservedBytes: 1 * KiB,
  /** Labels of one task. */
  labels: 128,
  /** A task's labels, keys plus values, in UTF-8 bytes. */
  labelBytes: 16 * KiB,
  /** A task id (also enforced by TASK_ID_PATTERN). */
  taskIdLength: 200,
  /** A task's name. */
  taskNameLength: 512,
  /** Ports one task asks for. */
  portsPerTask: 100,
  /** Steps of a rollout. */
  rolloutSteps: 100,
  /** A task status message the master stores and forwards; longer ones are truncated. */
  statusMessageBytes: 4 * KiB,
  /** A gRPC message the master accepts (an agent's registration carries all its tasks). */
  masterReceiveBytes: 16 * MiB,
  /** A gRPC message a framework's own API (DeployService, BatchService) accepts. */
  frameworkApiReceiveBytes: 1 * MiB,
  /** A framework's pending report (ReportPending): units of work in it. */
  pendingWork: 1_000,
  /** Task ids listed per unit of a pending report. */
  pendingTaskIds: 100,
  /** Reasons per unit of a pending report. */
  pendingReasons: 20,
  /** Any text of a pending report or a framework event (a name, a detail, a message). */
  pendingText: 500,
  /** Events of one PublishEvents call. */
  frameworkEventsPerCall: 100,
} as const;

/** Bytes of `s` in UTF-8. */
export function utf8Bytes(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

/** "64 KiB", "1 MiB" for round sizes, else exact: "65,537 bytes". */
export function formatBytes(n: number): string {
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= KiB && n % KiB === 0) return `${n / KiB} KiB`;
  return `${n.toLocaleString("en-US")} bytes`;
}

/** A problem found by a check: the field and what is wrong with it. */
export interface LimitProblem {
  field: string;
  message: string;
}

function over(field: string, what: string, value: number, limit: number, bytes: boolean): LimitProblem {
  const show = bytes ? formatBytes : (x: number) => x.toLocaleString("en-US");
  return { field, message: `${what} ${show(value)} is over the limit of ${show(limit)}` };
}

/** A size in bytes within `limit`. */
export function checkBytes(
  field: string,
  what: string,
  bytes: number,
  limit: number,
): LimitProblem | undefined {
  return bytes > limit ? over(field, what, bytes, limit, true) : undefined;
}

/** A count within `limit`. */
export function checkCount(
  field: string,
  what: string,
  count: number,
  limit: number,
): LimitProblem | undefined {
  return count > limit ? over(field, what, count, limit, false) : undefined;
}

/** The command's value and arguments, counted together. */
export function checkCommand(
  field: string,
  value: string,
  args: readonly string[] = [],
): LimitProblem | undefined {
  const count = checkCount(`${field}.arguments`, "argument count", args.length, LIMITS.commandArgs);
  if (count) return count;
  let bytes = utf8Bytes(value);
  for (const a of args) bytes += utf8Bytes(a);
  return checkBytes(field, "command length", bytes, LIMITS.commandBytes);
}

/** A string map (environment or labels) within a count and a byte total of keys plus values. */
export function checkStringMap(
  field: string,
  map: Readonly<Record<string, string>>,
  limits: { count: number; bytes: number },
  noun: string,
): LimitProblem | undefined {
  const keys = Object.keys(map);
  const count = checkCount(field, `${noun} count`, keys.length, limits.count);
  if (count) return count;
  let bytes = 0;
  for (const k of keys) bytes += utf8Bytes(k) + utf8Bytes(map[k] ?? "");
  return checkBytes(field, `${noun} size`, bytes, limits.bytes);
}

/** A task's environment; `inSpec` holds a framework's spec to the limits minus the reserve. */
export function checkEnv(
  field: string,
  env: Readonly<Record<string, string>>,
  inSpec = false,
): LimitProblem | undefined {
  const limits = inSpec
    ? { count: LIMITS.envVars - LIMITS.envReservedVars, bytes: LIMITS.envBytes - LIMITS.envReservedBytes }
    : { count: LIMITS.envVars, bytes: LIMITS.envBytes };
  return checkStringMap(field, env, limits, "environment");
}

export function checkLabels(
  field: string,
  labels: Readonly<Record<string, string>>,
): LimitProblem | undefined {
  return checkStringMap(field, labels, { count: LIMITS.labels, bytes: LIMITS.labelBytes }, "label");
}

/**
 * `text` cut to at most `maxBytes` of UTF-8 (never inside a character), with a note of how
 * much was cut, so that a reader knows the message is not whole.
 */
export function truncateUtf8(text: string, maxBytes: number): string {
  const total = utf8Bytes(text);
  if (total <= maxBytes) return text;
  const note = ` … [${formatBytes(total)} message truncated]`;
  const room = Math.max(0, maxBytes - utf8Bytes(note));
  const buf = Buffer.from(text, "utf8");
  let end = room;
  // Back off to the start of a character: continuation bytes are 10xxxxxx.
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString("utf8")}${note}`;
}
