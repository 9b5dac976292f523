// Reads and validates a policy file (--acl-file, YAML or JSON). Every problem names the field
// and the value, and the master refuses to start on one: a half-read policy is worse than none.
// A section the file leaves out keeps its default (policy.ts, DEFAULT_POLICY).
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import {
  type Action,
  BUILTIN_ROLES,
  type Binding,
  DEFAULT_POLICY,
  type FrameworkRule,
  isAction,
  type Policy,
  type TokenEntry,
} from "./policy.js";

const KINDS = ["master", "agent", "framework", "operator"] as const;

/** A policy file is wrong; the message names the file, the field and the value. */
export class PolicyFileError extends Error {
  constructor(
    readonly file: string,
    readonly field: string,
    message: string,
  ) {
    super(`${file}: ${field}: ${message}`);
    this.name = "PolicyFileError";
  }
}

export function loadPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new PolicyFileError(file, "(file)", `cannot read: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new PolicyFileError(file, "(file)", `not YAML or JSON: ${(err as Error).message}`);
  }
  return validatePolicy(doc ?? {}, file);
}

const TOP = ["roles", "bindings", "frameworks", "agents", "tokens", "clusterToken"];

/** Turns a parsed document into a Policy, or throws PolicyFileError naming the first problem. */
export function validatePolicy(doc: unknown, file = "policy"): Policy {
  const fail = (field: string, message: string): never => {
    throw new PolicyFileError(file, field, message);
  };
  const obj = (v: unknown, field: string): Record<string, unknown> => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) fail(field, `${show(v)} is not a mapping`);
    return v as Record<string, unknown>;
  };
  const strings = (v: unknown, field: string): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== "string" || s === ""))
      fail(field, `${show(v)} is not a list of non-empty strings`);
    return v as string[];
  };
  const known = (o: Record<string, unknown>, keys: string[], field: string) => {
    for (const k of Object.keys(o))
      if (!keys.includes(k))
        fail(`${field}${field ? "." : ""}${k}`, `unknown field (known: ${keys.join(", ")})`);
  };
  const top = obj(doc, "(top level)");
  known(top, TOP, "");

  const roles: Record<string, Action[]> = {};
  if (top.roles !== undefined) {
    for (const [name, actions] of Object.entries(obj(top.roles, "roles"))) {
      if (BUILTIN_ROLES[name]) fail(`roles.${name}`, "is a built-in role and cannot be redefined");
      const list = strings(actions, `roles.${name}`);
      for (const [i, a] of list.entries())
        if (!isAction(a)) fail(`roles.${name}[${i}]`, `"${a}" is not an action (see docs/security.md)`);
      roles[name] = list as Action[];
    }
  }
  const roleExists = (r: string) => BUILTIN_ROLES[r] !== undefined || roles[r] !== undefined;

  const list = (v: unknown, field: string): unknown[] => {
    if (!Array.isArray(v)) fail(field, `${show(v)} is not a list`);
    return v as unknown[];
  };

  let bindings: Binding[] = DEFAULT_POLICY.bindings;
  if (top.bindings !== undefined) {
    bindings = list(top.bindings, "bindings").map((b, i) => {
      const f = `bindings[${i}]`;
      const o = obj(b, f);
      known(o, ["role", "principals", "groups", "apps"], f);
      if (typeof o.role !== "string" || !roleExists(o.role))
        fail(`${f}.role`, `${show(o.role)} is not a role`);
      const binding = {
        role: o.role as string,
        principals: strings(o.principals, `${f}.principals`),
        groups: strings(o.groups, `${f}.groups`),
        apps: strings(o.apps, `${f}.apps`),
      };
      if (binding.principals.length === 0 && binding.groups.length === 0)
        fail(f, "names no principals and no groups");
      return binding;
    });
  }

  let frameworks: FrameworkRule[] = DEFAULT_POLICY.frameworks;
  if (top.frameworks !== undefined) {
    frameworks = list(top.frameworks, "frameworks").map((r, i) => {
      const f = `frameworks[${i}]`;
      const o = obj(r, f);
      known(o, ["principals", "groups", "roles", "users"], f);
      return {
        principals: strings(o.principals, `${f}.principals`),
        groups: strings(o.groups, `${f}.groups`),
        roles: strings(o.roles, `${f}.roles`),
        users: strings(o.users, `${f}.users`),
      };
    });
  }

  let agents = DEFAULT_POLICY.agents;
  if (top.agents !== undefined) {
    const o = obj(top.agents, "agents");
    known(o, ["principals", "groups"], "agents");
    agents = {
      principals: strings(o.principals, "agents.principals"),
      groups: strings(o.groups, "agents.groups"),
    };
  }

  const tokens: TokenEntry[] = [];
  if (top.tokens !== undefined) {
    const seen = new Set<string>();
    for (const [i, t] of list(top.tokens, "tokens").entries()) {
      const f = `tokens[${i}]`;
      const o = obj(t, f);
      known(o, ["name", "kind", "groups", "sha256"], f);
      if (typeof o.name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(o.name))
        fail(`${f}.name`, `${show(o.name)} is not a principal name`);
      const kind = o.kind ?? "operator";
      if (typeof kind !== "string" || !(KINDS as readonly string[]).includes(kind))
        fail(`${f}.kind`, `${show(kind)} is not one of ${KINDS.join(", ")}`);
      if (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256))
        fail(`${f}.sha256`, `${show(o.sha256)} is not a sha256 in hex (yardctl token create prints it)`);
      if (seen.has(o.sha256 as string)) fail(`${f}.sha256`, "is the same token as an earlier entry");
      seen.add(o.sha256 as string);
      tokens.push({
        name: o.name as string,
        kind: kind as TokenEntry["kind"],
        groups: strings(o.groups, `${f}.groups`),
        sha256: o.sha256 as string,
      });
    }
  }

  const clusterToken = top.clusterToken ?? DEFAULT_POLICY.clusterToken;
  if (clusterToken !== "admin" && clusterToken !== "deny")
    fail("clusterToken", `${show(clusterToken)} is not "admin" or "deny"`);

  return {
    roles,
    bindings,
    frameworks,
    agents,
    tokens,
    clusterToken: clusterToken as Policy["clusterToken"],
  };
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
