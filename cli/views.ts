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

/** `nowSeconds` is Unix time in seconds, like the messages' timestamps. */
export function taskRow(t: TaskRecord, nowSeconds: number): string[] {
  const state = t.status?.state ?? TaskState.TASK_STAGING;
  const usage = t.usage && t.usage.timestamp > 0 ? t.usage : undefined;
  return [
    t.info?.taskId ?? t.status?.taskId ?? "",
    t.frameworkId,
    t.info?.agentId || t.status?.agentId || "-",
    stateName(state),
    healthName(t),
    usage ? `${num(usage.cpuSeconds)}s` : "-",
    usage ? formatBytes(usage.memBytes) : "-",
    t.createdAt > 0 ? formatAge(nowSeconds - t.createdAt) : "-",
    t.status?.message || "",
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

export function agentsTable(agents: readonly AgentState[]): string {
  return renderTable(AGENT_HEADERS, agents.map(agentRow));
}

export function frameworksTable(frameworks: readonly FrameworkState[]): string {
  return renderTable(FRAMEWORK_HEADERS, frameworks.map(frameworkRow));
}

export function tasksTable(tasks: readonly TaskRecord[], nowSeconds: number): string {
  return renderTable(
    TASK_HEADERS,
    tasks.map((t) => taskRow(t, nowSeconds)),
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
