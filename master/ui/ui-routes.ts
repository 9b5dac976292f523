// The web UI on the master's HTTP port, under /ui: the page and its files (no login needed:
// they hold no data), /ui/login (a `yardctl ui` code traded for a session cookie), /ui/logout,
// and the JSON endpoints under /ui/api/ (ui-api.ts), which need a session. Choices and their
// reasons: docs/ui.md.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type UiApiComponents, serveApi } from "./ui-api.js";
import { uiAssets } from "./ui-assets.js";
import { sendError, sendJson, UI_HEADERS } from "./http-replies.js";
import type { UiSessions } from "./ui-sessions.js";

export const SESSION_COOKIE = "yard_ui";

export interface UiRoutesComponents extends UiApiComponents {
  sessions: UiSessions;
  /** The port serves HTTPS: the cookie is marked Secure. */
  secure: boolean;
}

/** Whether `path` belongs to the UI. */
export function isUiPath(path: string): boolean {
  return path === "/ui" || path.startsWith("/ui/");
}

export function uiHandler(c: UiRoutesComponents): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://ui.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/ui") {
      res.writeHead(308, { location: "/ui/" }).end();
      return;
    }
    if (path === "/ui/logout") {
      if (method !== "POST") return sendError(res, 405, "log out with POST /ui/logout");
      const cookie = cookieOf(req);
      if (cookie) c.sessions.end(cookie);
      res.setHeader("set-cookie", cookieHeader("", 0, c.secure));
      return sendJson(res, 200, { loggedOut: true });
    }
    if (method !== "GET" && method !== "HEAD")
      return sendError(res, 405, `${method} is not served under /ui`);
    if (path === "/ui/login") return login(c, url.searchParams, res);
    if (path.startsWith("/ui/api/")) {
      const cookie = cookieOf(req);
      const session = cookie ? c.sessions.session(cookie) : undefined;
      if (!session)
        return sendError(
          res,
          401,
          cookie
            ? "the UI session has expired or was logged out: run `yardctl ui` for a new login URL"
            : "not logged in: run `yardctl ui` and open the URL it prints",
        );
      serveApi(c, path.slice("/ui/api/".length), { req, res, query: url.searchParams, session });
      return;
    }
    serveAsset(req, res, path === "/ui/" ? "index.html" : path.slice("/ui/".length));
  };
}

function login(c: UiRoutesComponents, query: URLSearchParams, res: ServerResponse) {
  const code = query.get("code");
  if (!code) return sendError(res, 400, "code: is required (run `yardctl ui` for a login URL)");
  const done = c.sessions.redeem(code);
  if (!done)
    return sendError(
      res,
      401,
      "code: unknown, already used or expired; run `yardctl ui` for a new login URL",
    );
  const maxAge = Math.max(1, Math.floor((done.session.expiresAtMs - Date.now()) / 1000));
  // 303 to the page: the used code leaves the address bar and is not reloaded.
  res.writeHead(303, {
    ...UI_HEADERS,
    location: "/ui/",
    "set-cookie": cookieHeader(done.cookie, maxAge, c.secure),
  });
  res.end();
}

function serveAsset(req: IncomingMessage, res: ServerResponse, name: string) {
  const asset = uiAssets().get(name);
  if (!asset) return sendError(res, 404, `no UI file ${JSON.stringify(name)}`);
  if (req.headers["if-none-match"] === asset.etag) {
    res.writeHead(304, { etag: asset.etag }).end();
    return;
  }
  res.writeHead(200, {
    ...UI_HEADERS,
    "cache-control": "no-cache",
    "content-type": asset.type,
    etag: asset.etag,
  });
  res.end(req.method === "HEAD" ? undefined : asset.body);
}

/** HttpOnly: scripts never see it; SameSite=Strict: no other site's page sends it (no CSRF). */
function cookieHeader(value: string, maxAge: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${value}; Path=/ui; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
}

function cookieOf(req: IncomingMessage): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
