// What `yardctl get` and `yardctl events` show of the master's messages. Pure: messages
// and the current time in, table cells and lines out.
import { stateName } from "../common/task-states.js";
import { healthStateToJSON, TaskState } from "../proto/gen/yard/v1/common.js";
import type {
  AgentState,
  ClusterEvent,
  FrameworkState,
  GetMastersResponse,
  TaskRecord,
} from "../proto/gen/yard/v1/operator.js";
import { renderTable } from "./table.js";

export const AGENT_HEADERS = [
  "ID",
  "HOSTNAME",
  "STATUS",
  "CONDITIONS",
  "CPUS",
  "MEM",
  "TASKS",
  "ATTRIBUTES",
] as const;
export const FRAMEWORK_HEADERS = ["ID", "NAME", "ROLE", "PRINCIPAL", "STATUS", "TASKS", "SHARE"] as const;
export const TASK_HEADERS = [
  "ID",
  "FRAMEWORK",
  "AGENT",
  "STATE",
  "HEALTH",
  "CPU",
  "MEM",
  "AGE",
  "MESSAGE",
] as const;

/** Trims a number for a table: at most 2 decimals, no trailing zeros. */
export function num(x: number): string {
  return String(Math.round(x * 100) / 100);
}

/** "42s", "5m", "3h", "2d": the largest unit, like kubectl's AGE. */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "-";
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 2 * 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 2 * 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}

/** Bytes with a binary unit: "512B", "1.5KiB", "64MiB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(v) : num(Math.round(v * 10) / 10)}${units[i]}`;
}

/** What the agent reports of its health, like kubectl's node conditions: "DiskPressure" or "-". */
export function agentConditions(a: AgentState): string {
  const out: string[] = [];
  if (a.conditions?.diskPressure) out.push("DiskPressure");
  return out.join(",") || "-";
}

/** Extra columns of `get agents -o wide`. */
export const AGENT_WIDE_HEADERS = [
  ...AGENT_HEADERS.slice(0, 6),
  "DISK",
  "PORTS",
  ...AGENT_HEADERS.slice(6, 7),
  "EXECUTORS",
  "VERSION",
  "HEARTBEAT",
  "AGE",
  ...AGENT_HEADERS.slice(7),
] as const;

/** "31000-31099,32000": port ranges as the agent flags write them. */
export function formatRanges(ranges: readonly { begin: number; end: number }[] | undefined): string {
  const list = ranges ?? [];
  if (list.length === 0) return "-";
  return list.map((r) => (r.begin === r.end ? String(r.begin) : `${r.begin}-${r.end}`)).join(",");
}

export function agentRow(a: AgentState): string[] {
  const total = a.info?.resources;
  const used = a.allocated;
  return [
    a.info?.id ?? "",
    a.info?.hostname ?? "",
    a.status,
    agentConditions(a),
    `${num(used?.cpus ?? 0)}/${num(total?.cpus ?? 0)}`,
    `${num(used?.mem ?? 0)}/${num(total?.mem ?? 0)}`,
    String(a.runningTasks),
    (a.info?.attributes ?? []).map((x) => `${x.name}=${x.value}`).join(",") || "-",
  ];
}

/** `get agents -o wide`: the table's columns plus disk, ports, executors, version and times. */
export function agentWideRow(a: AgentState, nowSeconds: number): string[] {
  const row = agentRow(a);
  const total = a.info?.resources;
  const used = a.allocated;
  return [
    ...row.slice(0, 6),
    `${num(used?.disk ?? 0)}/${num(total?.disk ?? 0)}`,
    formatRanges(total?.ports),
    row[6],
    (a.info?.executors ?? []).join(",") || "-",
    a.info?.version || "-",
    a.lastHeartbeat > 0 ? `${formatAge(nowSeconds - a.lastHeartbeat)} ago` : "-",
    a.registeredAt > 0 ? formatAge(nowSeconds - a.registeredAt) : "-",
    row[7],
  ];
}

export const FRAMEWORK_WIDE_HEADERS = [...FRAMEWORK_HEADERS, "HOSTNAME", "ENDPOINT", "AGE"] as const;

export function frameworkWideRow(f: FrameworkState, nowSeconds: number): string[] {
  return [
    ...frameworkRow(f),
    f.info?.hostname || "-",
    f.info?.endpoint || "-",
    f.registeredAt > 0 ? formatAge(nowSeconds - f.registeredAt) : "-",
  ];
}

export function frameworkRow(f: FrameworkState): string[] {
  return [
    f.info?.id ?? "",
    f.info?.name ?? "",
    f.info?.role || "*",
    f.principal || "-",
    f.suppressed && f.status === "CONNECTED" ? "CONNECTED (suppressed)" : f.status,
    String(f.activeTasks),
    `${num(f.dominantShare * 100)}%`,
  ];
}

/**
 * What a task table knows beyond the tasks: framework names by id, agent hostnames by id.
 * A framework the master no longer reports shows by its id.
 */
export interface TaskContext {
  frameworkNames?: ReadonlyMap<string, string>;
  agentHostnames?: ReadonlyMap<string, string>;
}

/** Framework id → name, from `get frameworks`' answer (torn-down ones included). */
export function frameworkNames(frameworks: readonly FrameworkState[]): Map<string, string> {
  return new Map(frameworks.filter((f) => f.info?.id && f.info.name).map((f) => [f.info!.id, f.info!.name]));
}

/** `nowSeconds` is Unix time in seconds, like the messages' timestamps. */
export function taskRow(t: TaskRecord, nowSeconds: number, ctx: TaskContext = {}): string[] {
  const state = t.status?.state ?? TaskState.TASK_STAGING;
  const usage = t.usage && t.usage.timestamp > 0 ? t.usage : undefined;
  return [
    t.info?.taskId ?? t.status?.taskId ?? "",
    ctx.frameworkNames?.get(t.frameworkId) || t.frameworkId,
    t.info?.agentId || t.status?.agentId || "-",
    stateName(state),
    healthName(t),
    usage ? `${num(usage.cpuSeconds)}s` : "-",
    usage ? formatBytes(usage.memBytes) : "-",
    t.createdAt > 0 ? formatAge(nowSeconds - t.createdAt) : "-",
    t.status?.message || "",
  ];
}

export const TASK_WIDE_HEADERS = [
  "ID",
  "FRAMEWORK",
  "FRAMEWORK ID",
  "AGENT",
  "HOST",
  "STATE",
  "HEALTH",
  "CPU",
  "MEM",
  "PORTS",
  "AGE",
  "MESSAGE",
] as const;

/** `get tasks -o wide`: the framework's id next to its name, the agent's hostname, the ports. */
export function taskWideRow(t: TaskRecord, nowSeconds: number, ctx: TaskContext = {}): string[] {
  const row = taskRow(t, nowSeconds, ctx);
  const agentId = row[2];
  return [
    row[0],
    row[1],
    t.frameworkId,
    agentId,
    ctx.agentHostnames?.get(agentId) || "-",
    ...row.slice(3, 7),
    formatRanges(t.info?.resources?.ports),
    ...row.slice(7),
  ];
}

/** The agent's verdict of the task's health check: healthy, unhealthy, unknown; "-" without a check. */
function healthName(t: TaskRecord): string {
  const h = t.status?.health;
  if (!t.info?.healthCheck || !h) return "-";
  return healthStateToJSON(h.state)
    .replace(/^HEALTH_/, "")
    .toLowerCase();
}

export const MASTER_HEADERS = ["ID", "ADDRESS", "HTTP", "ROLE", "TERM", "SINCE"] as const;

/** `get masters`: one row per master; a single master (no HA) has no id. */
export function mastersTable(res: GetMastersResponse, nowSeconds: number): string {
  return renderTable(
    MASTER_HEADERS,
    res.masters.map((m) => [
      m.id || "-",
      m.address,
      m.httpAddress,
      m.role,
      m.term ? String(m.term) : "-",
      m.since ? formatAge(nowSeconds - m.since) : "-",
    ]),
  );
}

export function agentsTable(
  agents: readonly AgentState[],
  wide = false,
  nowSeconds = Date.now() / 1000,
): string {
  if (wide)
    return renderTable(
      AGENT_WIDE_HEADERS,
      agents.map((a) => agentWideRow(a, nowSeconds)),
    );
  return renderTable(AGENT_HEADERS, agents.map(agentRow));
}

export function frameworksTable(
  frameworks: readonly FrameworkState[],
  wide = false,
  nowSeconds = Date.now() / 1000,
): string {
  if (wide)
    return renderTable(
      FRAMEWORK_WIDE_HEADERS,
      frameworks.map((f) => frameworkWideRow(f, nowSeconds)),
    );
  return renderTable(FRAMEWORK_HEADERS, frameworks.map(frameworkRow));
}

export function tasksTable(
  tasks: readonly TaskRecord[],
  nowSeconds: number,
  ctx: TaskContext = {},
  wide = false,
): string {
  if (wide)
    return renderTable(
      TASK_WIDE_HEADERS,
      tasks.map((t) => taskWideRow(t, nowSeconds, ctx)),
    );
  return renderTable(
    TASK_HEADERS,
    tasks.map((t) => taskRow(t, nowSeconds, ctx)),
  );
}

/** One line per event: time, index, type, then the ids and state it carries, then the message. */
export function formatEvent(e: ClusterEvent): string {
  const parts = [new Date(e.timestamp * 1000).toISOString(), `#${e.index}`, e.type];
  if (e.agentId) parts.push(`agent=${e.agentId}`);
  if (e.frameworkId) parts.push(`framework=${e.frameworkId}`);
  if (e.taskId) parts.push(`task=${e.taskId}`);
  if (e.taskState !== TaskState.TASK_STATE_UNSPECIFIED) parts.push(`state=${stateName(e.taskState)}`);
  // What a framework's event or an audit record is about: app/web, job/j-1, a release…
  if (e.object) parts.push(e.object);
  if (e.message) parts.push(e.message.replace(/\s*\n\s*/g, " "));
  return parts.join(" ");
}
