// The web UI's JSON endpoints (GET /ui/api/...), each answered as the session's operator: the
// same actions as the gRPC API (view; read_logs for logs, audited), refusals as JSON errors.
// Bodies are the protocol's own messages in their JSON form (enum names, camelCase).
import type { IncomingMessage, ServerResponse } from "node:http";
import { InvalidArgumentError, NotFoundError, PermissionDeniedError } from "../../common/errors.js";
import { PendingWork } from "../../proto/gen/yard/v1/common.js";
import { AppStatus, HistoryResponse, ListAppsResponse } from "../../proto/gen/yard/v1/deploy.js";
import { AgentState, Explanation, FrameworkState, TaskRecord } from "../../proto/gen/yard/v1/operator.js";
import { ListReleasesResponse, ReleaseStatus } from "../../proto/gen/yard/v1/release.js";
import type { AccessControl } from "../auth/access.js";
import type { Action } from "../auth/policy.js";
import type { Master } from "../master.js";
import { MASTER_VERSION } from "../grpc/operator-service.js";
import type { ReleaseManager } from "../releases/release-manager.js";
import { resumeIndex, streamEvents } from "./event-stream.js";
import { sendError, sendFailure, sendJson, UI_HEADERS } from "./http-replies.js";
import type { ServiceApps } from "./service-apps.js";
import { readLogTail } from "./task-log-tail.js";
import type { UiSession } from "./ui-sessions.js";

export interface UiApiComponents {
  master: Master;
  access: AccessControl;
  apps: ServiceApps;
  releases: Pick<ReleaseManager, "listWithCopies" | "status">;
}

interface Call {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  session: UiSession;
}

/** Most tasks one answer lists (newest first); the CLI lists the rest. */
const TASK_LIMIT = 1_000;

type Endpoint = (c: UiApiComponents, call: Call) => unknown;

const ENDPOINTS: Record<string, { action: Action; run: Endpoint }> = {
  whoami: {
    action: "view",
    run: (_c, { session }) => ({
      principal: session.principal.name,
      kind: session.principal.kind,
      groups: session.principal.groups,
      expiresAt: session.expiresAtMs / 1000,
    }),
  },
  overview: {
    action: "view",
    run: ({ master }) => ({
      masterVersion: MASTER_VERSION,
      startedAt: master.startedAtSeconds,
      activeTasks: master.activeTaskCount(),
      agents: master.agentStates().map((a) => AgentState.toJSON(a)),
      frameworks: master.frameworkStates().map((f) => FrameworkState.toJSON(f)),
    }),
  },
  tasks: {
    action: "view",
    run: ({ master }, { query }) => {
      const tasks = master
        .taskRecords({
          frameworkId: query.get("framework_id") ?? "",
          agentId: query.get("agent_id") ?? "",
          includeTerminal: query.get("terminal") === "1",
        })
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, TASK_LIMIT);
      const names = new Map(master.frameworkStates().map((f) => [f.info?.id ?? "", f.info?.name ?? ""]));
      return {
        tasks: tasks.map((t) => ({
          ...(TaskRecord.toJSON(t) as object),
          frameworkName: names.get(t.frameworkId),
        })),
        waiting: master.pendingWork().map((p) => ({
          frameworkId: p.frameworkId,
          frameworkName: names.get(p.frameworkId) ?? "",
          reportedAt: p.atMs / 1000,
          work: PendingWork.toJSON(p.work),
        })),
      };
    },
  },
  explain: {
    action: "view",
    run: ({ master }, { query }) =>
      Explanation.toJSON(
        master.explain({
          kind: query.get("kind") ?? "",
          name: query.get("name") ?? "",
          frameworkId: query.get("framework_id") ?? "",
        }),
      ),
  },
  releases: {
    action: "view",
    run: ({ releases }) => ListReleasesResponse.toJSON(releases.listWithCopies()),
  },
  release: {
    action: "view",
    run: ({ releases }, { query }) => ReleaseStatus.toJSON(releases.status(required(query, "name"))),
  },
  apps: {
    action: "view",
    run: async ({ apps }, { session }) => ListAppsResponse.toJSON(await apps.list(session.delegation)),
  },
  app: {
    action: "view",
    run: async ({ apps, master }, { query, session }) => {
      const name = required(query, "name");
      const [app, history] = await Promise.all([
        apps.get(name, session.delegation),
        apps.history(name, session.delegation),
      ]);
      let why: unknown = null;
      try {
        why = Explanation.toJSON(master.explain({ kind: "app", name, frameworkId: "" }));
      } catch (err) {
        // An app nobody reports waiting has nothing to explain; other failures are real.
        if (!(err instanceof NotFoundError || err instanceof InvalidArgumentError)) throw err;
      }
      return { app: AppStatus.toJSON(app), history: HistoryResponse.toJSON(history), explanation: why };
    },
  },
};

/** Answers GET /ui/api/<name> for `session`. */
export function serveApi(c: UiApiComponents, name: string, call: Call) {
  const { req, res, query, session } = call;
  if (name === "events") {
    if (!allowed(c, session, "view", "", res)) return;
    try {
      streamEvents(req, res, c.master.events, resumeIndex(req, query, c.master.events));
    } catch (err) {
      sendFailure(res, err);
    }
    return;
  }
  if (name === "logs") return serveLogs(c, call);
  const endpoint = ENDPOINTS[name];
  if (!endpoint) return sendError(res, 404, `no UI endpoint /ui/api/${name}`);
  if (!allowed(c, session, endpoint.action, "", res)) return;
  Promise.resolve()
    .then(() => endpoint.run(c, call))
    // What the answer shows must be durable, as for the gRPC API.
    .then((body) => c.master.afterCommit(() => sendJson(res, 200, body)))
    .catch((err: unknown) => sendFailure(res, err));
}

function serveLogs(c: UiApiComponents, { res, query, session }: Call) {
  let taskId: string;
  try {
    taskId = required(query, "task");
  } catch (err) {
    return sendFailure(res, err);
  }
  if (!allowed(c, session, "read_logs", taskId, res)) return;
  c.access.done(session.principal, "read_logs", taskId);
  const tail = query.get("tail");
  readLogTail(c.master, {
    taskId,
    frameworkId: query.get("framework_id") ?? "",
    stream: query.get("stream") ?? "stdout",
    tailBytes: tail === null ? 64 * 1024 : Number(tail),
  })
    .then((body) => {
      res.writeHead(200, { ...UI_HEADERS, "content-type": "text/plain; charset=utf-8" });
      res.end(body);
    })
    .catch((err: unknown) => sendFailure(res, err));
}

function allowed(
  c: UiApiComponents,
  s: UiSession,
  action: Action,
  object: string,
  res: ServerResponse,
): boolean {
  try {
    c.access.require(s.principal, action, object);
    return true;
  } catch (err) {
    if (err instanceof PermissionDeniedError) sendError(res, 403, err.message);
    else sendFailure(res, err);
    return false;
  }
}

function required(query: URLSearchParams, field: string): string {
  const v = query.get(field);
  if (!v) throw new InvalidArgumentError(field, "is required");
  return v;
}
