// Who may do what: the pure core of the ACLs. A principal (common/principal.ts) asks to perform
// an action on an object; the policy answers allowed or not, and why not. No I/O here: the
// policy file is read by policy-file.ts, callers are identified by authenticate.ts, and the
// decision is enforced and audited at the wire (access.ts).
import type { Principal } from "../../common/principal.js";

/**
 * Every action the master (and the frameworks that ask it, through ReviewAccess) checks.
 * Objects: subscribe = the framework's role, run_as = FrameworkInfo.user, deploy = the app
 * name, drain = the agent id, kill = the task id, *_release = NAME@VERSION.
 */
export const ACTIONS = [
  "register_agent",
  "subscribe",
  "run_as",
  "review_access",
  "stage_release",
  "view",
  "view_metrics",
  "read_logs",
  "deploy",
  "kill",
  "drain",
  "push_release",
  "remove_release",
  "export_release",
  "grant_release",
] as const;
export type Action = (typeof ACTIONS)[number];

export function isAction(v: string): v is Action {
  return (ACTIONS as readonly string[]).includes(v);
}

/** Built-in roles. admin holds every action, so an admin can also stand in for a daemon. */
export const BUILTIN_ROLES: Readonly<Record<string, readonly Action[]>> = {
  admin: ACTIONS,
  deployer: [
    "view",
    "view_metrics",
    "read_logs",
    "deploy",
    "kill",
    "push_release",
    "export_release",
    "grant_release",
    "stage_release",
  ],
  viewer: ["view", "view_metrics"],
};

/** What a framework principal may do beyond subscribing: the calls the SDK and built-in frameworks make. */
const FRAMEWORK_ACTIONS: readonly Action[] = ["view", "stage_release", "review_access"];

/** Grants a role to principals (by name pattern) and to groups (certificate O, token groups). */
export interface Binding {
  role: string;
  principals: string[];
  groups: string[];
  /** App name patterns the role's deploy action is limited to; empty = every app. */
  apps: string[];
}

/** Which framework principals may subscribe, in which roles, running tasks as which users. */
export interface FrameworkRule {
  principals: string[];
  groups: string[];
  roles: string[];
  users: string[];
}

/** A per-principal token: the policy keeps only the sha256 of the secret. */
export interface TokenEntry {
  name: string;
  kind: Principal["kind"];
  groups: string[];
  /** sha256 of the token, hex. */
  sha256: string;
}

export interface Policy {
  /** Roles besides the built-in ones (a name of a built-in role is refused by the file loader). */
  roles: Record<string, readonly Action[]>;
  bindings: Binding[];
  frameworks: FrameworkRule[];
  /** Which agent principals may register agents. */
  agents: { principals: string[]; groups: string[] };
  tokens: TokenEntry[];
  /**
   * What the legacy shared cluster token (--token) is worth: "admin" (it authenticates as the
   * principal cluster-token in group admin) or "deny" (refused).
   */
  clusterToken: "admin" | "deny";
}

/** The policy without a policy file (docs/security.md, "Principals and ACLs"). */
export const DEFAULT_POLICY: Policy = {
  roles: {},
  bindings: [
    { role: "admin", principals: [], groups: ["admin"], apps: [] },
    { role: "deployer", principals: [], groups: ["deployer"], apps: [] },
    { role: "viewer", principals: [], groups: ["viewer"], apps: [] },
  ],
  frameworks: [{ principals: ["*"], groups: [], roles: ["*"], users: ["*"] }],
  agents: { principals: ["*"], groups: [] },
  tokens: [],
  clusterToken: "admin",
};

export interface Decision {
  allowed: boolean;
  /** Why not, naming the principal and the action; empty when allowed. */
  reason: string;
}

/** "alice (operator)": how refusals and audit events name a principal. */
export function describePrincipal(p: Pick<Principal, "name" | "kind">): string {
  return `${p.name} (${p.kind})`;
}

/** `*` matches any run of characters; everything else matches itself. */
export function matches(pattern: string, value: string): boolean {
  if (pattern === "*") return true;
  if (!pattern.includes("*")) return pattern === value;
  const re = new RegExp(`^${pattern.split("*").map(escapeRegExp).join(".*")}$`);
  return re.test(value);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function names(p: Principal, who: { principals: string[]; groups: string[] }): boolean {
  return who.principals.some((pat) => matches(pat, p.name)) || who.groups.some((g) => p.groups.includes(g));
}

function roleActions(policy: Policy, role: string): readonly Action[] {
  return BUILTIN_ROLES[role] ?? policy.roles[role] ?? [];
}

/** Whether a role binding of `p` grants `action` on `object`. */
function grantedByRole(policy: Policy, p: Principal, action: Action, object: string): boolean {
  return policy.bindings.some(
    (b) =>
      names(p, b) &&
      roleActions(policy, b.role).includes(action) &&
      (action !== "deploy" || b.apps.length === 0 || b.apps.some((pat) => matches(pat, object))),
  );
}

/** Whether the rules for `p`'s kind grant `action` on `object`. */
function grantedByKind(policy: Policy, p: Principal, action: Action, object: string): boolean {
  switch (p.kind) {
    case "agent":
      return action === "register_agent" && names(p, policy.agents);
    case "framework": {
      if (FRAMEWORK_ACTIONS.includes(action)) return true;
      const rules = policy.frameworks.filter((r) => names(p, r));
      if (action === "subscribe") return rules.some((r) => r.roles.some((pat) => matches(pat, object)));
      // The empty user is the agent's own unprivileged task user: no rule needed.
      if (action === "run_as")
        return object === "" || rules.some((r) => r.users.some((pat) => matches(pat, object)));
      return false;
    }
    default:
      return false;
  }
}

/** Decides whether `p` may perform `action` on `object` (empty when the action names none). */
export function authorize(policy: Policy, p: Principal, action: Action, object = ""): Decision {
  if (grantedByKind(policy, p, action, object) || grantedByRole(policy, p, action, object)) {
    return { allowed: true, reason: "" };
  }
  const on = object ? ` ${object}` : "";
  const what = action === "subscribe" ? ` in role${on}` : action === "run_as" ? ` user${on || ' ""'}` : on;
  const groups = p.groups.length ? `groups ${p.groups.join(",")}` : "no groups";
  return {
    allowed: false,
    reason: `principal ${describePrincipal(p)} may not ${action}${what}: no rule of the policy grants it (${groups})`,
  };
}
