// Who is logged into the web UI. `yardctl ui` asks the master (OperatorService.CreateUiLogin)
// for a login code bound to the caller's principal; the browser trades the code once, within
// a minute, for a session whose id lives only in an HttpOnly cookie. Each session also holds a
// delegation token, never sent to the browser, that the master forwards when it calls the
// service framework on the operator's behalf: the framework's ReviewAccess then resolves it
// to the operator, so the same policy and audit log cover the UI's app pages (docs/ui.md).
// Only sha256 digests of the secrets are kept, and everything lives in the leader's memory.
import { createHash, randomBytes } from "node:crypto";
import type { Principal } from "../../common/principal.js";

export interface UiSessionsInit {
  /** How long a login code may wait before it is traded, default one minute. */
  codeTtlMs?: number;
  /** How long a session lasts after its login, default eight hours (a working day). */
  sessionTtlMs?: number;
  /** At most this many codes and sessions each; the oldest go first. Default 1,000. */
  limit?: number;
  now?: () => number;
}

export interface UiSession {
  principal: Principal;
  expiresAtMs: number;
  /** The token the master forwards to the service framework for this operator. */
  delegation: string;
}

/** Prefix of delegation tokens, so that a review can tell them from policy tokens at once. */
export const DELEGATION_PREFIX = "yard-ui-delegation.";

interface Held<T> {
  value: T;
  expiresAtMs: number;
}

export class UiSessions {
  private readonly codes = new Map<string, Held<Principal>>();
  private readonly sessions = new Map<string, Held<UiSession>>();
  private readonly delegations = new Map<string, Held<Principal>>();
  private readonly codeTtlMs: number;
  private readonly sessionTtlMs: number;
  private readonly limit: number;
  private readonly now: () => number;

  constructor(init: UiSessionsInit = {}) {
    this.codeTtlMs = init.codeTtlMs ?? 60_000;
    this.sessionTtlMs = init.sessionTtlMs ?? 8 * 3600_000;
    this.limit = init.limit ?? 1_000;
    this.now = init.now ?? Date.now;
  }

  /** A fresh single-use login code for `principal`. */
  mintCode(principal: Principal): { code: string; expiresAtMs: number } {
    const code = secret();
    const expiresAtMs = this.now() + this.codeTtlMs;
    this.put(this.codes, digest(code), { value: principal, expiresAtMs });
    return { code, expiresAtMs };
  }

  /** Trades a login code for a session: the cookie value, or undefined when the code is unknown, used or expired. */
  redeem(code: string): { cookie: string; session: UiSession } | undefined {
    const key = digest(code);
    const held = this.codes.get(key);
    this.codes.delete(key);
    if (!held || held.expiresAtMs <= this.now()) return undefined;
    const cookie = secret();
    const delegation = DELEGATION_PREFIX + secret();
    const expiresAtMs = this.now() + this.sessionTtlMs;
    const session: UiSession = { principal: held.value, expiresAtMs, delegation };
    this.put(this.sessions, digest(cookie), { value: session, expiresAtMs });
    this.put(this.delegations, digest(delegation), { value: held.value, expiresAtMs });
    return { cookie, session };
  }

  /** The live session of a cookie value, if any. */
  session(cookie: string): UiSession | undefined {
    return this.live(this.sessions, digest(cookie));
  }

  /** Logs a session out: its cookie and its delegation token stop working at once. */
  end(cookie: string): void {
    const key = digest(cookie);
    const s = this.sessions.get(key);
    this.sessions.delete(key);
    if (s) this.delegations.delete(digest(s.value.delegation));
  }

  /** The operator a delegation token stands for (ReviewAccess), if it is live. */
  delegated(token: string): Principal | undefined {
    if (!token.startsWith(DELEGATION_PREFIX)) return undefined;
    return this.live(this.delegations, digest(token));
  }

  private live<T>(map: Map<string, Held<T>>, key: string): T | undefined {
    const held = map.get(key);
    if (!held) return undefined;
    if (held.expiresAtMs > this.now()) return held.value;
    map.delete(key);
    return undefined;
  }

  private put<T>(map: Map<string, Held<T>>, key: string, held: Held<T>): void {
    const t = this.now();
    for (const [k, h] of map) if (h.expiresAtMs <= t) map.delete(k);
    // Maps iterate in insertion order: the first key is the oldest.
    while (map.size >= this.limit) map.delete(map.keys().next().value as string);
    map.set(key, held);
  }
}

function secret(): string {
  return randomBytes(32).toString("base64url");
}

function digest(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}
