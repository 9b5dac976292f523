// yardctl's client of the service framework's DeployService, found through the master by
// the framework's name, and the rendering of an app's rollout for the terminal. Shared by
// deploy, rollout, scale, delete and get apps.
import { noticePending } from "../pending-notice.js";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { CHANNEL_OPTIONS } from "../../common/grpc.js";
import { channelCredentials } from "../../common/tls.js";
import { stateName } from "../../common/task-states.js";
import {
  type ApplyRequest,
  type ApplyResponse,
  type AppRequest,
  type AppStatus,
  type Deployment,
  DeployServiceClient,
  type HistoryResponse,
  type ListAppsResponse,
  type ScaleRequest,
  type StagingWave,
  type UndoRequest,
  type WatchAppRequest,
} from "../../proto/gen/yard/v1/deploy.js";
import { type ClientTarget, LeaderClient, OperatorClient } from "../clients.js";
import { CliError, ExitCode } from "../errors.js";
import { renderTable } from "../table.js";

/** The name the service framework subscribes with. */
export const SERVICE_FRAMEWORK_NAME = "service";

/** Deployment states after which nothing moves any more. */
export const ENDED = new Set(["SUCCEEDED", "FAILED", "ROLLED_BACK", "ABORTED", "SUPERSEDED"]);

type Fn<Req, Res> = (
  req: Req,
  md: import("@grpc/grpc-js").Metadata,
  o: object,
  cb: (e: any, r: Res) => void,
) => unknown;

/**
 * The service framework's DeployService. Given several instances (an active one and
 * standbys that answer with the not-the-leader redirect), calls go to the active one.
 */
export class DeployClient extends LeaderClient<DeployServiceClient> {
  constructor(target: ClientTarget) {
    const creds = channelCredentials(target.tls, { serverKind: "framework" });
    super(
      (address) => new DeployServiceClient(address, creds, CHANNEL_OPTIONS),
      target,
      "the service framework",
    );
  }

  apply(req: ApplyRequest): Promise<ApplyResponse> {
    return this.call(this.client.apply as Fn<ApplyRequest, ApplyResponse>, req);
  }
  getApp(app: string): Promise<AppStatus> {
    return this.call(this.client.getApp as Fn<AppRequest, AppStatus>, { app });
  }
  listApps(): Promise<ListAppsResponse> {
    return this.call(this.client.listApps as Fn<object, ListAppsResponse>, {});
  }
  verb(verb: "pause" | "resume" | "promote" | "abort" | "delete", app: string): Promise<AppStatus> {
    return this.call(this.client[verb] as Fn<AppRequest, AppStatus>, { app });
  }
  undo(req: UndoRequest): Promise<ApplyResponse> {
    return this.call(this.client.undo as Fn<UndoRequest, ApplyResponse>, req);
  }
  scale(req: ScaleRequest): Promise<AppStatus> {
    return this.call(this.client.scale as Fn<ScaleRequest, AppStatus>, req);
  }
  history(app: string): Promise<HistoryResponse> {
    return this.call(this.client.history as Fn<AppRequest, HistoryResponse>, { app });
  }
  watchApp(req: WatchAppRequest): ClientReadableStream<AppStatus> {
    return this.client.watchApp(req, this.md);
  }
}

/** Finds the service framework's DeployService through the master. */
export async function connectDeploy(target: ClientTarget): Promise<DeployClient> {
  const operator = new OperatorClient(target);
  try {
    const { frameworks } = await operator.getFrameworks();
    const fw = frameworks.find(
      (f) => f.info?.name === SERVICE_FRAMEWORK_NAME && f.status === "CONNECTED" && f.info.endpoint,
    );
    if (!fw) {
      throw new CliError(
        `no service framework is connected to the master at ${target.address} (start one with "yardctl up" or "yardctl service")`,
        ExitCode.FAILURE,
      );
    }
    return new DeployClient({ ...target, address: fw.info!.endpoint });
  } finally {
    operator.close();
  }
}

export interface Counts {
  newLive: number;
  newReady: number;
  old: number;
  healthy: number;
}

/** Counts of an app's instances against the revision its deployment moves to. */
export function countsOf(s: AppStatus): Counts {
  const d = s.deployment;
  const target = d && !ENDED.has(d.state) ? (d.rollingBack ? d.fromRevision : d.toRevision) : s.revision;
  const live = s.tasks.filter((t) => !t.stopping);
  return {
    newLive: live.filter((t) => t.revision === target).length,
    newReady: live.filter((t) => t.revision === target && t.ready).length,
    old: live.filter((t) => t.revision !== target).length,
    healthy: live.filter((t) => t.healthy).length,
  };
}

export function bar(done: number, total: number, width = 20): string {
  const f = total > 0 ? Math.min(width, Math.round((done / total) * width)) : width;
  return `[${"#".repeat(f)}${"-".repeat(width - f)}]`;
}

function waveText(w: StagingWave): string {
  const pct =
    w.size > 0
      ? Math.floor((w.downloaded / w.size) * 100)
      : w.agents > 0
        ? Math.floor((w.agentsDone / w.agents) * 100)
        : 100;
  if (w.state === "DONE")
    return `staged on ${w.agentsDone}/${w.agents} agents${w.waited ? " (its step waited for it)" : ""}`;
  if (w.state === "FAILED") return `staging FAILED (${w.agentsDone}/${w.agents} agents)`;
  return `staging ${w.agentsDone}/${w.agents} agents, ${pct} %`;
}

/**
 * The staging waves as `rollout status` shows them, e.g. "step 3/4: 25 running, next wave
 * staging 18/25 agents, 61 %": the current step's wave while its step waits for it, else the
 * next step's.
 */
export function waveLine(d: Deployment, running: number): string {
  if (d.waves.length === 0 || d.rollingBack || ENDED.has(d.state) || d.state === "STAGING") return "";
  const of = (step: number) => d.waves.find((w) => w.step <= step && step <= w.through);
  const head = `step ${d.step}/${d.steps}: ${running} running`;
  const current = of(d.step);
  if (current && current.state !== "DONE") return `${head}, this step's wave ${waveText(current)}`;
  if (d.step >= d.steps) return `${head}, last step`;
  const next = of(d.step + 1);
  if (!next) return `${head}, next wave not started`;
  if (next === current) return `${head}, next step's agents staged before step 1 (stage: all)`;
  return `${head}, next wave ${waveText(next)}`;
}

/** The live view of `rollout status`: one block of lines. */
export function renderRollout(s: AppStatus): string {
  const c = countsOf(s);
  const lines = [
    `app ${s.name}   revision ${s.revision}   instances ${s.instances}${s.release ? `   release ${s.release}` : ""}${s.image ? `   image ${s.image}` : ""}${s.deleting ? "   DELETING" : ""}`,
  ];
  const d = s.deployment;
  if (d) {
    const target = d.rollingBack
      ? `${d.toRevision} → ${d.fromRevision} (rollback)`
      : `${d.fromRevision} → ${d.toRevision}`;
    const stepTarget = d.stepTargets[d.step - 1] ?? s.instances;
    lines.push(
      `deployment ${d.id}   revision ${target}   ${d.state}   step ${d.step} of ${d.steps} (${stepTarget} new)`,
    );
    lines.push(
      `  new ${bar(c.newReady, s.instances)} ${c.newReady}/${s.instances} ready (${c.newLive} running)   old ${c.old}   healthy ${c.healthy}/${s.instances}`,
    );
    if (d.staging && d.staging.agents.length > 0) {
      const parts = d.staging.agents.map((a) => {
        const pct = a.size > 0 ? ` ${Math.floor((a.downloaded / a.size) * 100)}%` : "";
        return `${a.hostname || a.agentId} ${a.state}${a.state === "FETCHING" ? pct : ""}`;
      });
      lines.push(`  staging: ${parts.join(", ")}`);
    }
    const waves = waveLine(d, c.newLive);
    if (waves) lines.push(`  ${waves}`);
    if (d.message) lines.push(`  ${d.message}`);
  } else {
    lines.push(
      `  ${bar(c.newReady, s.instances)} ${c.newReady}/${s.instances} ready   healthy ${c.healthy}/${s.instances}`,
    );
  }
  return `${lines.join("\n")}\n`;
}

export function instancesTable(s: AppStatus): string {
  return renderTable(
    ["TASK", "REV", "HOST", "PORT", "STATE", "HEALTH"],
    s.tasks.map((t) => [
      t.taskId,
      String(t.revision),
      t.hostname,
      t.port ? String(t.port) : "",
      t.stopping ? "STOPPING" : stateName(t.state),
      t.ready ? "ready" : t.health || (t.healthy ? "healthy" : "-"),
    ]),
  );
}

export function appsTable(apps: AppStatus[]): string {
  return renderTable(
    ["NAME", "REVISION", "INSTANCES", "READY", "RELEASE", "DEPLOYMENT"],
    apps.map((a) => {
      const c = countsOf(a);
      const d = a.deployment;
      return [
        a.name,
        String(a.revision),
        String(a.instances),
        `${a.tasks.filter((t) => t.ready && !t.stopping).length}/${a.instances}`,
        a.release || a.image || "",
        d ? `${d.state}${ENDED.has(d.state) ? "" : ` step ${d.step}/${d.steps}`}` : "",
      ].concat(c ? [] : []);
    }),
  );
}

/**
 * Follows an app until its deployment `deploymentId` ends, printing the view after every
 * change (redrawn in place on a terminal). Resolves with the deployment's final state.
 */
export async function followDeployment(
  client: DeployClient,
  app: string,
  deploymentId: string,
  out: (text: string) => void,
  /** Asks the master why the app's instances wait; the answer is shown under the view. */
  operator?: OperatorClient,
): Promise<string> {
  const tty = process.stdout.isTTY === true;
  let lastLines = 0;
  let final = "";
  let lastText = "";
  let last: AppStatus | undefined;
  let waiting: string | undefined;
  const draw = () => {
    if (!last) return;
    const done = last.deployment?.id === deploymentId && ENDED.has(last.deployment.state);
    const text = renderRollout(last) + (waiting && !done ? `waiting: ${waiting}\n` : "");
    if (text === lastText) return; // a change the view does not show (e.g. STAGING -> STARTING)
    lastText = text;
    if (tty && lastLines > 0) process.stdout.write(`\x1b[${lastLines}A\x1b[J`);
    out(text);
    lastLines = text.split("\n").length - 1;
  };
  const stopNotices = operator
    ? noticePending(operator, "app", app, (line) => {
        waiting = line;
        draw();
      })
    : undefined;
  await client
    .consumeAcrossFailover(
      () => client.watchApp({ app, deploymentId }),
      (s) => {
        if (s.deployment?.id === deploymentId) final = s.deployment.state;
        last = s;
        // Instances that are all placed wait for nothing the master could explain.
        if (s.tasks.length >= s.instances) waiting = undefined;
        draw();
        return undefined;
      },
      // The service framework's active instance died or stepped down: its standby has the
      // deployment, and a new watch starts from its newest view.
      (err) => process.stderr.write(`yardctl: the watch ended (${err.details ?? "unavailable"}); resuming\n`),
    )
    .catch((err: unknown) => {
      throw client.streamError(err);
    })
    .finally(() => stopNotices?.());
  return final;
}
