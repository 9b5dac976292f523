// Enforcement and audit: the one object every service of the master asks "may this caller do
// this?". It authenticates the call, applies the policy, refuses with PERMISSION_DENIED naming
// the principal and the action, and records operator actions (and every refusal) as AUDIT
// events in the cluster's event stream.
import type { Metadata } from "@grpc/grpc-js";
import { InvalidArgumentError, PermissionDeniedError, UnauthenticatedError } from "../../common/errors.js";
import type { Principal } from "../../common/principal.js";
import type { ReviewAccessRequest, ReviewAccessResponse } from "../../proto/gen/yard/v1/operator.js";
import { type Authenticator, bearerOf, type Credentials } from "./authenticate.js";
import { type Action, type Decision, authorize, describePrincipal, isAction, type Policy } from "./policy.js";

/** What a gRPC server call offers for authentication. */
export interface AuthenticatedCall {
  metadata: Metadata;
  /** grpc-js ≥ 1.14: the peer certificate the TLS handshake verified. */
  getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } | null;
}

export interface AuditEntry {
  principal: Principal;
  action: Action | string;
  object: string;
  /** "ok", "denied: ...", "failed: ...". */
  result: string;
}

/** Where audit entries go (the master's event log). */
export type AuditSink = (entry: AuditEntry) => void;

/**
 * Actions recorded in the audit log when they are allowed. Reads (view, view_metrics) and the
 * daemons' own calls are not: they would drown the operator's actions. Refusals of any action
 * are always recorded.
 */
const AUDITED: ReadonlySet<string> = new Set<Action>([
  "deploy",
  "kill",
  "drain",
  "push_release",
  "remove_release",
  "export_release",
  "grant_release",
  "read_logs",
]);

export function isAudited(action: string): boolean {
  return AUDITED.has(action);
}

/** The credentials of a gRPC call: its bearer token and the peer certificate TLS verified. */
export function credentialsOf(call: AuthenticatedCall): Credentials {
  const cert = call.getAuthContext?.()?.sslPeerCertificate;
  return {
    bearer: bearerOf(call.metadata),
    certificate: cert?.raw && cert.raw.length > 0 ? cert.raw : undefined,
    certificateVerified: true,
  };
}

export class AccessControl {
  /** Resolves tokens the master delegated (the web UI's sessions, master/ui/ui-sessions.ts). */
  private delegation?: (token: string) => Principal | undefined;

  constructor(
    private readonly auth: Authenticator,
    private readonly policy: Policy,
    private readonly audit: AuditSink,
  ) {}

  /**
   * Lets ReviewAccess resolve tokens that stand for an operator logged into the web UI, so a
   * framework judges the UI's calls as that operator's. Only reviews accept them: they are
   * no credential for the master's own API.
   */
  acceptDelegations(resolve: (token: string) => Principal | undefined): void {
    this.delegation = resolve;
  }

  /** For callers that are not gRPC calls (the HTTP port). */
  authenticator(): Authenticator {
    return this.auth;
  }

  /** The caller's principal; UnauthenticatedError when it proves none. */
  principalOf(call: AuthenticatedCall): Principal {
    return this.auth.authenticate(credentialsOf(call));
  }

  decide(principal: Principal, action: Action, object = ""): Decision {
    return authorize(this.policy, principal, action, object);
  }

  /** Throws PermissionDeniedError (recorded in the audit log) unless `principal` may act. */
  require(principal: Principal, action: Action, object = ""): void {
    const d = this.decide(principal, action, object);
    if (d.allowed) return;
    this.record({ principal, action, object, result: `denied: ${d.reason}` });
    throw new PermissionDeniedError(d.reason);
  }

  /** Authenticates the call and requires `action`; returns the principal. */
  check(call: AuthenticatedCall, action: Action, object = ""): Principal {
    const p = this.principalOf(call);
    this.require(p, action, object);
    return p;
  }

  /** Records the outcome of an allowed action, if it is one the audit log keeps. */
  done(principal: Principal, action: Action, object: string, err?: unknown): void {
    if (!isAudited(action)) return;
    const result = err === undefined ? "ok" : `failed: ${err instanceof Error ? err.message : String(err)}`;
    this.record({ principal, action, object, result });
  }

  record(entry: AuditEntry): void {
    this.audit(entry);
  }

  /**
   * ReviewAccess: the caller (a framework serving an operator API) asks on behalf of the
   * holder of the credential in `req`. The decision is audited here, in the master's log.
   */
  review(caller: Principal, req: ReviewAccessRequest): ReviewAccessResponse {
    this.require(caller, "review_access");
    if (!isAction(req.action)) {
      throw new InvalidArgumentError("action", `"${req.action}" is not an action`);
    }
    let p: Principal;
    const delegated = req.token ? this.delegation?.(req.token) : undefined;
    if (delegated) p = delegated;
    else
      try {
        p = this.auth.authenticate({
          bearer: req.token || undefined,
          certificate: req.certificate.length > 0 ? req.certificate : undefined,
          certificateVerified: false,
        });
      } catch (err) {
        // The reviewed credential is bad, not the caller's: say so in the answer.
        if (!(err instanceof UnauthenticatedError)) throw err;
        return { allowed: false, reason: err.message, principal: "", kind: "", unauthenticated: true };
      }
    const d = this.decide(p, req.action, req.object);
    const via = ` (through ${describePrincipal(caller)})`;
    if (!d.allowed)
      this.record({
        principal: p,
        action: req.action,
        object: req.object,
        result: `denied: ${d.reason}${via}`,
      });
    else if (isAudited(req.action))
      this.record({ principal: p, action: req.action, object: req.object, result: `ok${via}` });
    return { allowed: d.allowed, reason: d.reason, principal: p.name, kind: p.kind, unauthenticated: false };
  }
}
