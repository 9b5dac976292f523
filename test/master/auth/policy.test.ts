// The policy as a specification: who may do what, with the reason a refusal carries.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Principal } from "../../../common/principal.js";
import { type Action, authorize, DEFAULT_POLICY, matches, type Policy } from "../../../master/auth/policy.js";
import { PolicyFileError, validatePolicy } from "../../../master/auth/policy-file.js";

const op = (name: string, ...groups: string[]): Principal => ({
  name,
  kind: "operator",
  groups,
  via: "token",
});
const fw = (name: string): Principal => ({ name, kind: "framework", groups: [], via: "certificate" });
const agent = (name: string): Principal => ({ name, kind: "agent", groups: [], via: "certificate" });

describe("authorize with the default policy", () => {
  const cases: [string, Principal, Action, string, boolean][] = [
    ["a viewer views", op("v", "viewer"), "view", "", true],
    ["a viewer reads metrics", op("v", "viewer"), "view_metrics", "", true],
    ["a viewer cannot deploy", op("v", "viewer"), "deploy", "web", false],
    ["a viewer cannot read logs", op("v", "viewer"), "read_logs", "t1", false],
    ["a deployer deploys", op("d", "deployer"), "deploy", "web", true],
    ["a deployer pushes releases", op("d", "deployer"), "push_release", "web@1", true],
    ["a deployer cannot drain", op("d", "deployer"), "drain", "agent-1", false],
    ["a deployer cannot remove releases", op("d", "deployer"), "remove_release", "web@1", false],
    ["an admin drains", op("a", "admin"), "drain", "agent-1", true],
    ["an operator of no group can do nothing", op("nobody"), "view", "", false],
    ["an agent registers", agent("host-1"), "register_agent", "host-1", true],
    ["an agent cannot view", agent("host-1"), "view", "", false],
    ["a framework subscribes in any role", fw("svc"), "subscribe", "prod", true],
    ["a framework runs as any user", fw("svc"), "run_as", "www-data", true],
    ["a framework cannot register agents", fw("svc"), "register_agent", "h", false],
    ["a framework cannot deploy", fw("svc"), "deploy", "web", false],
    ["a framework may ask for reviews", fw("svc"), "review_access", "", true],
    ["an operator cannot ask for reviews unless admin", op("d", "deployer"), "review_access", "", false],
  ];
  for (const [name, p, action, object, allowed] of cases) {
    test(name, () => assert.equal(authorize(DEFAULT_POLICY, p, action, object).allowed, allowed));
  }

  test("a refusal names the principal, its kind, the action and the object", () => {
    assert.equal(
      authorize(DEFAULT_POLICY, op("bob", "deployer"), "drain", "agent-1").reason,
      "principal bob (operator) may not drain agent-1: no rule of the policy grants it (groups deployer)",
    );
  });
});

describe("authorize with a policy file", () => {
  const policy: Policy = validatePolicy({
    roles: { drainer: ["view", "drain"] },
    bindings: [
      { role: "deployer", principals: ["ci-*"], apps: ["web-*"] },
      { role: "drainer", groups: ["oncall"] },
    ],
    frameworks: [{ principals: ["svc"], roles: ["prod"], users: ["app"] }],
    agents: { principals: ["host-*"] },
  });
  const cases: [string, Principal, Action, string, boolean][] = [
    ["a deployer bound to web-* deploys web-a", op("ci-1"), "deploy", "web-a", true],
    ["... but not db", op("ci-1"), "deploy", "db", false],
    ["a custom role drains", op("pat", "oncall"), "drain", "a1", true],
    ["a custom role does not deploy", op("pat", "oncall"), "deploy", "web-a", false],
    ["the default group bindings are gone once bindings are given", op("a", "admin"), "drain", "a1", false],
    ["a framework subscribes in its role", fw("svc"), "subscribe", "prod", true],
    ["... not in another", fw("svc"), "subscribe", "*", false],
    ["... runs as its user", fw("svc"), "run_as", "app", true],
    ["... not as root", fw("svc"), "run_as", "root", false],
    ["... and always as the agent's task user (empty)", fw("svc"), "run_as", "", true],
    ["an unlisted framework cannot subscribe", fw("other"), "subscribe", "prod", false],
    ["a listed agent registers", agent("host-9"), "register_agent", "", true],
    ["an unlisted agent does not", agent("rogue"), "register_agent", "", false],
  ];
  for (const [name, p, action, object, allowed] of cases) {
    test(name, () => assert.equal(authorize(policy, p, action, object).allowed, allowed));
  }
});

describe("policy file validation names the field and the value", () => {
  const cases: [string, unknown, RegExp][] = [
    ["unknown top-level field", { bindngs: [] }, /bindngs: unknown field/],
    [
      "unknown role",
      { bindings: [{ role: "god", groups: ["x"] }] },
      /bindings\[0\]\.role: "god" is not a role/,
    ],
    [
      "binding of no one",
      { bindings: [{ role: "admin" }] },
      /bindings\[0\]: names no principals and no groups/,
    ],
    ["redefined built-in role", { roles: { admin: ["view"] } }, /roles\.admin: is a built-in role/],
    ["unknown action", { roles: { r: ["fly"] } }, /roles\.r\[0\]: "fly" is not an action/],
    ["bad sha256", { tokens: [{ name: "ci", sha256: "abc" }] }, /tokens\[0\]\.sha256: "abc" is not a sha256/],
    [
      "bad kind",
      { tokens: [{ name: "ci", kind: "god", sha256: "a".repeat(64) }] },
      /tokens\[0\]\.kind: "god"/,
    ],
    ["bad clusterToken", { clusterToken: "maybe" }, /clusterToken: "maybe" is not "admin" or "deny"/],
  ];
  for (const [name, doc, message] of cases) {
    test(name, () =>
      assert.throws(
        () => validatePolicy(doc, "acl.yaml"),
        (err) =>
          err instanceof PolicyFileError && message.test(err.message) && err.message.startsWith("acl.yaml: "),
      ),
    );
  }
});

test("patterns: * alone matches anything, inside a name any run of characters", () => {
  assert.ok(matches("*", "x"));
  assert.ok(matches("web-*", "web-a"));
  assert.ok(!matches("web-*", "db"));
  assert.ok(matches("a.b", "a.b"));
  assert.ok(!matches("a.b", "axb"));
});
