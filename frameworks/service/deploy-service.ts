// DeployService: the gRPC API of the service framework. Requests are checked here; the
// ServiceScheduler owns the apps and its OperatorVerbs change them. Views are built from plain records.
import type { Metadata, ServerWritableStream } from "@grpc/grpc-js";
import { parse as parseYaml } from "yaml";
import { InvalidArgumentError, NotFoundError, toGrpcError } from "../../common/errors.js";
import { type AccessReviewer, type OpenStreams, StreamWriter } from "../../framework-sdk/index.js";
import type {
  AppStatus,
  Deployment,
  DeployServiceServer,
  Logger,
  Revision,
  WatchAppRequest,
} from "../../framework-sdk/index.js";
import type { AppView } from "./app-book.js";
import { type ReleaseLookup, requireSpecRelease } from "./release-check.js";
import type { OperatorVerbs } from "./operator-verbs.js";
import type { StagingAgent, WaveRecord } from "./service-state.js";
import { type DeploymentRecord, isEnded } from "./service-state.js";
import { summarizeWave } from "./waves.js";

function agentFetch(a: StagingAgent) {
  return {
    agentId: a.agentId,
    hostname: a.hostname,
    state: a.state,
    downloaded: a.downloaded,
    uploaded: 0,
    size: a.size,
    downloadRate: 0,
    uploadRate: 0,
    error: a.error,
    updatedAt: 0,
  };
}

function waveMessage(w: WaveRecord) {
  const sum = summarizeWave(w);
  return {
    step: w.step + 1,
    through: w.through + 1,
    state: w.state,
    agents: sum.agents,
    agentsDone: sum.done,
    downloaded: sum.downloaded,
    size: sum.size,
    startedAt: w.startedAt,
    doneAt: w.doneAt,
    waited: w.waited,
    doneInStep: w.state === "DONE" ? w.doneInStep + 1 : 0,
    fetches: w.agents.map(agentFetch),
  };
}

export function deploymentMessage(d: DeploymentRecord, steps: number[], stageMode?: string): Deployment {
  return {
    id: d.id,
    fromRevision: d.fromRevision,
    toRevision: d.toRevision,
    state: d.state,
    step: Math.min(d.step + 1, Math.max(steps.length, 1)),
    steps: steps.length,
    stepTargets: steps,
    message: d.message,
    startedAt: d.startedAt,
    endedAt: d.endedAt,
    staging: {
      release: "",
      complete: d.stagingComplete,
      failed: false,
      agents: d.staging.map(agentFetch),
    },
    rollingBack: d.rollingBack,
    failure: d.failure,
    failures: d.failures,
    stageMode: stageMode ?? "",
    waves: (d.waves ?? []).map(waveMessage),
  };
}

export function appStatus(v: AppView): AppStatus {
  return {
    name: v.app.name,
    revision: v.app.revision,
    instances: v.app.instances,
    release: v.spec.release,
    image: v.spec.image,
    deployment: v.deployment && deploymentMessage(v.deployment, v.deploymentSteps, v.stageMode),
    tasks: v.instances.map((i) => ({
      taskId: i.taskId,
      revision: i.revision,
      agentId: i.agentId,
      hostname: i.hostname,
      state: i.state,
      healthy: i.healthy,
      health: i.health,
      ready: i.ready,
      port: i.port,
      launchedAt: i.launchedAt,
      message: i.message,
      stopping: i.stopping,
    })),
    deleting: v.app.deleting,
    updatedAt: v.app.updatedAt,
    crashBackoffUntil: v.crashBackoffUntil ?? 0,
  };
}

function appName(name: string): string {
  if (!name) throw new InvalidArgumentError("app", "is empty");
  return name;
}

/** The app a spec names, read leniently: the policy is asked before the spec is validated. */
function specAppName(specYaml: string): string {
  try {
    const doc = parseYaml(specYaml) as { name?: unknown } | null;
    return typeof doc?.name === "string" ? doc.name : "";
  } catch {
    return "";
  }
}

/** Reads need `view`; every change to an app needs `deploy` on that app (docs/security.md). */
const onApp = (req: { app: string }): readonly [string, string] => ["deploy", req.app];

export function createDeployService(
  scheduler: OperatorVerbs,
  access: AccessReviewer,
  log: Logger,
  releases: ReleaseLookup,
  openStreams?: OpenStreams,
) {
  const status = (name: string) => appStatus(scheduler.view(name));
  const unary =
    <Req, Res>(
      action: "view" | ((req: NoInfer<Req>) => readonly [string, string]),
      fn: (req: Req) => Res | Promise<Res>,
    ) =>
    (call: { request: Req; metadata: Metadata }, cb: (err: any, res?: Res) => void) => {
      const [act, object] = action === "view" ? ["view", ""] : action(call.request);
      access
        .require(call, act, object)
        .then(() => fn(call.request))
        .then(
          (res) => cb(null, res),
          (err) => cb(toGrpcError(err)),
        );
    };

  const impl: DeployServiceServer = {
    apply: unary(
      (req) => ["deploy", specAppName(req.specYaml)] as const,
      async (req) => {
        if (!req.specYaml.trim()) throw new InvalidArgumentError("spec_yaml", "is empty");
        await requireSpecRelease(req.specYaml, releases);
        const r = scheduler.apply(req.specYaml, req.fileName || "spec");
        return {
          app: status(r.name),
          unchanged: r.unchanged,
          scaled: r.scaled,
          revision: r.revision,
          deploymentId: r.deploymentId,
        };
      },
    ),
    getApp: unary("view", (req) => status(appName(req.app))),
    listApps: unary("view", () => ({ apps: scheduler.names().map(status) })),
    pause: unary(onApp, (req) => {
      scheduler.pause(appName(req.app));
      return status(req.app);
    }),
    resume: unary(onApp, (req) => {
      scheduler.resume(appName(req.app));
      return status(req.app);
    }),
    promote: unary(onApp, (req) => {
      scheduler.promote(appName(req.app));
      return status(req.app);
    }),
    abort: unary(onApp, (req) => {
      scheduler.abort(appName(req.app));
      return status(req.app);
    }),
    undo: unary(onApp, (req) => {
      const r = scheduler.undo(appName(req.app), req.toRevision);
      return {
        app: status(req.app),
        unchanged: false,
        scaled: false,
        revision: r.revision,
        deploymentId: r.deploymentId,
      };
    }),
    scale: unary(onApp, (req) => {
      scheduler.scale(appName(req.app), req.instances);
      return status(req.app);
    }),
    delete: unary(onApp, (req) => {
      scheduler.delete(appName(req.app));
      return status(req.app);
    }),
    history: unary("view", (req) => {
      const h = scheduler.history(appName(req.app));
      const revisions: Revision[] = h.revisions.map((r) => ({
        number: r.number,
        createdAt: r.createdAt,
        specYaml: r.specYaml,
        release: r.spec.release,
        image: r.spec.image,
        deploymentState: [...h.deployments].reverse().find((d) => d.toRevision === r.number)?.state ?? "",
        changeCause: r.changeCause,
      }));
      return { revisions, deployments: h.deployments.map((d) => deploymentMessage(d, [])) };
    }),
    watchApp: (call: ServerWritableStream<WatchAppRequest, AppStatus>) => {
      const name = call.request.app;
      const depId = call.request.deploymentId;
      let last = "";
      let unwatch = () => {};
      // Each status is a snapshot: a client that is behind gets the newest one when it drains.
      const out = new StreamWriter<AppStatus>(call, { mode: "latest", openStreams });
      const send = (): boolean => {
        if (!out.open) return false;
        if (!scheduler.has(name)) {
          out.end();
          return false;
        }
        const s = status(name);
        const key = JSON.stringify({ ...s, updatedAt: 0 });
        if (key !== last) {
          last = key;
          out.write(s);
        }
        if (depId) {
          const d = scheduler.deployment(name, depId);
          if (!d || isEnded(d)) {
            out.end();
            return false;
          }
        }
        return true;
      };
      let gone = false;
      const start = async () => {
        await access.require(call, "view");
        appName(name);
        if (!scheduler.has(name)) throw new NotFoundError(`app ${JSON.stringify(name)} not found`);
        if (gone || !send()) return;
        unwatch = scheduler.watch((changed) => {
          if (changed !== name) return;
          if (!send()) unwatch();
        });
      };
      start().catch((err) => call.emit("error", toGrpcError(err)));
      call.on("cancelled", () => {
        gone = true;
        unwatch();
      });
      call.on("close", () => {
        gone = true;
        unwatch();
      });
      call.on("error", (err) => {
        unwatch();
        log.debug("watch stream error", { err });
      });
    },
  };
  return impl;
}
