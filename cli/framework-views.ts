// What `yardctl get jobs` and `get deployments` show of the built-in frameworks' messages:
// the batch framework's jobs and the service framework's deployments. Pure: messages and
// the current time in, table text out.
import { TaskState } from "../proto/gen/yard/v1/common.js";
import type { Job } from "../proto/gen/yard/v1/batch.js";
import type { AppStatus, Deployment } from "../proto/gen/yard/v1/deploy.js";
import { ENDED } from "./commands/deploy-client.js";
import { renderTable } from "./table.js";
import { formatAge, num } from "./views.js";

export const JOB_HEADERS = ["ID", "NAME", "STATE", "TASKS", "AGE", "DURATION", "MESSAGE"] as const;
export const JOB_WIDE_HEADERS = [
  "ID",
  "NAME",
  "STATE",
  "TASKS",
  "CPUS",
  "MEM",
  "RETRIES",
  "AGENTS",
  "AGE",
  "DURATION",
  "COMMAND",
  "MESSAGE",
] as const;

const FINISHED = TaskState.TASK_FINISHED;

/** "2/3": tasks that finished (exit 0) out of the job's tasks. */
function jobTasks(j: Job): string {
  const total = j.spec?.tasks || j.tasks.length;
  return `${j.tasks.filter((t) => t.state === FINISHED).length}/${total}`;
}

/** How long the job ran (to now while it runs); "-" before it was created. */
function jobDuration(j: Job, nowSeconds: number): string {
  if (j.createdAt <= 0) return "-";
  return formatAge((j.finishedAt > 0 ? j.finishedAt : nowSeconds) - j.createdAt);
}

export function jobRow(j: Job, nowSeconds: number): string[] {
  return [
    j.id,
    j.spec?.name || "-",
    j.state,
    jobTasks(j),
    j.createdAt > 0 ? formatAge(nowSeconds - j.createdAt) : "-",
    jobDuration(j, nowSeconds),
    j.message,
  ];
}

/** The command as the operator typed it after `yardctl run --`. */
function commandText(j: Job): string {
  const c = j.spec?.command;
  if (!c) return j.spec?.container?.image || "-";
  return [c.value, ...c.arguments].join(" ");
}

export function jobWideRow(j: Job, nowSeconds: number): string[] {
  const row = jobRow(j, nowSeconds);
  const agents = [...new Set(j.tasks.map((t) => t.agentId).filter(Boolean))];
  return [
    ...row.slice(0, 4),
    num(j.spec?.resources?.cpus ?? 0),
    num(j.spec?.resources?.mem ?? 0),
    String(j.spec?.maxRetries ?? 0),
    agents.join(",") || "-",
    ...row.slice(4, 6),
    commandText(j),
    row[6],
  ];
}

export function jobsTable(jobs: readonly Job[], nowSeconds: number, wide = false): string {
  if (wide)
    return renderTable(
      JOB_WIDE_HEADERS,
      jobs.map((j) => jobWideRow(j, nowSeconds)),
    );
  return renderTable(
    JOB_HEADERS,
    jobs.map((j) => jobRow(j, nowSeconds)),
  );
}

export const DEPLOYMENT_HEADERS = [
  "APP",
  "DEPLOYMENT",
  "REVISION",
  "STATE",
  "STEP",
  "AGE",
  "MESSAGE",
] as const;
export const DEPLOYMENT_WIDE_HEADERS = [
  "APP",
  "DEPLOYMENT",
  "REVISION",
  "STATE",
  "STEP",
  "TARGETS",
  "FAILURES",
  "STAGE",
  "STARTED",
  "ENDED",
  "MESSAGE",
] as const;

/** "1 → 2", or "2 → 1 (rollback)" while it walks back. */
function revisions(d: Deployment): string {
  return d.rollingBack
    ? `${d.toRevision} → ${d.fromRevision} (rollback)`
    : `${d.fromRevision} → ${d.toRevision}`;
}

/** The deployment's message, with why it failed when the message does not say it already. */
function deploymentMessage(d: Deployment): string {
  return d.failure && !d.message.includes(d.failure) ? `${d.message} (${d.failure})` : d.message;
}

function ago(seconds: number, nowSeconds: number): string {
  return seconds > 0 ? `${formatAge(nowSeconds - seconds)} ago` : "-";
}

/** Apps that have a deployment: the latest one of each (active, or the last that ended). */
function withDeployment(apps: readonly AppStatus[]): { app: AppStatus; d: Deployment }[] {
  return apps.flatMap((app) => (app.deployment ? [{ app, d: app.deployment }] : []));
}

export function deploymentRow(app: AppStatus, d: Deployment, nowSeconds: number): string[] {
  return [
    app.name,
    d.id,
    revisions(d),
    d.state,
    ENDED.has(d.state) ? "-" : `${d.step}/${d.steps}`,
    d.startedAt > 0 ? formatAge(nowSeconds - d.startedAt) : "-",
    deploymentMessage(d),
  ];
}

export function deploymentWideRow(app: AppStatus, d: Deployment, nowSeconds: number): string[] {
  const row = deploymentRow(app, d, nowSeconds);
  return [
    ...row.slice(0, 5),
    d.stepTargets.join(",") || "-",
    String(d.failures),
    d.stageMode || "-",
    ago(d.startedAt, nowSeconds),
    ago(d.endedAt, nowSeconds),
    row[6],
  ];
}

export function deploymentsTable(apps: readonly AppStatus[], nowSeconds: number, wide = false): string {
  const rows = withDeployment(apps);
  if (wide)
    return renderTable(
      DEPLOYMENT_WIDE_HEADERS,
      rows.map(({ app, d }) => deploymentWideRow(app, d, nowSeconds)),
    );
  return renderTable(
    DEPLOYMENT_HEADERS,
    rows.map(({ app, d }) => deploymentRow(app, d, nowSeconds)),
  );
}
