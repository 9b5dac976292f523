import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  amountOf,
  type AppSpec,
  parseAppSpec,
  SpecError,
  sameExceptInstances,
  unreachablePolicy,
} from "../../../frameworks/service/app-spec.js";

const GOOD = `
name: web
release: web@2
command: node server.js
env: { VERSION: v2 }
instances: 3
resources: { cpus: 0.1, mem: 64, ports: 1 }
health_check:
  http: { path: /healthz }
  interval: 500ms
  timeout: 1s
  grace_period: 2
  failures: 2
constraints:
  - hostname UNIQUE
  - zone GROUP_BY
  - rack LIKE r[12]
  - zone UNLIKE z9
rollout:
  steps: [1, 10%, 50%, 100%]
  max_surge: 1
  max_unavailable: 25%
  pause: manual
  min_healthy_time: 3s
  progress_deadline: 2m
  auto_rollback: true
`;

function problems(yaml: string): string[] {
  try {
    parseAppSpec(yaml);
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.problems;
  }
  assert.fail("the spec was accepted");
}

describe("app spec", () => {
  test("a full, valid spec parses with its units", () => {
    const s = parseAppSpec(GOOD);
    assert.equal(s.name, "web");
    assert.equal(s.release, "web@2");
    assert.deepEqual(s.env, { VERSION: "v2" });
    assert.deepEqual(s.resources, { cpus: 0.1, mem: 64, disk: 0, ports: 1 });
    assert.equal(s.healthCheck?.kind, "http");
    assert.equal(s.healthCheck?.path, "/healthz");
    assert.equal(s.healthCheck?.intervalSeconds, 0.5);
    assert.deepEqual(
      s.constraints.map((c) => c.op),
      ["UNIQUE", "GROUP_BY", "LIKE", "UNLIKE"],
    );
    assert.deepEqual(s.rollout.steps, [{ count: 1 }, { percent: 10 }, { percent: 50 }, { percent: 100 }]);
    assert.deepEqual(s.rollout.maxSurge, { count: 1 });
    assert.deepEqual(s.rollout.maxUnavailable, { percent: 25 });
    assert.equal(s.rollout.manualPromotion, true);
    assert.equal(s.rollout.minHealthySeconds, 3);
    assert.equal(s.rollout.progressDeadlineSeconds, 120);
  });

  test("a minimal spec gets the defaults", () => {
    const s = parseAppSpec("name: api\ncommand: sleep 100\n");
    assert.equal(s.instances, 1);
    assert.equal(s.healthCheck, undefined);
    assert.deepEqual(s.rollout.steps, [{ percent: 100 }]);
    assert.equal(s.rollout.autoRollback, true);
  });

  test("unreachable.replace_after: a duration, 60 s by default", () => {
    assert.equal(parseAppSpec("name: a\ncommand: x\n").unreachable.replaceAfterSeconds, 60);
    const s = parseAppSpec("name: a\ncommand: x\nunreachable: { replace_after: 2m }\n");
    assert.equal(s.unreachable.replaceAfterSeconds, 120);
    assert.equal(
      parseAppSpec("name: a\ncommand: x\nunreachable: { replace_after: 0 }\n").unreachable
        .replaceAfterSeconds,
      0,
    );
    assert.deepEqual(problems("name: a\ncommand: x\nunreachable: { replace_after: soon, after: 1 }\n"), [
      "unreachable.after: unknown key (known: replace_after)",
      'unreachable.replace_after: "soon" is not a duration (seconds, or e.g. "500ms", "10s", "2m")',
    ]);
    assert.deepEqual(problems("name: a\ncommand: x\nunreachable: { replace_after: -5 }\n"), [
      'unreachable.replace_after: -5 is not a duration (seconds, or e.g. "500ms", "10s", "2m")',
    ]);
    assert.deepEqual(problems("name: a\ncommand: x\nunreachable: 5\n"), ["unreachable: 5 is not a map"]);
    // A revision stored before the key existed reads as the default.
    const { unreachable: _, ...old } = parseAppSpec("name: a\ncommand: x\n");
    assert.equal(unreachablePolicy(old as AppSpec).replaceAfterSeconds, 60);
  });

  test("every problem is reported at once, each with its path", () => {
    const got = problems(`
name: Web_App
command: ""
instances: -1
resources: { cpus: fast, ports: 0 }
env: { 1BAD: x }
health_check: { http: { path: nope, port_index: 0 }, interval: soon }
constraints: ["hostname SOMETIMES", "zone LIKE ([", 7]
rollout: { steps: [1, 150%, 50%], max_surge: -2, auto_rollback: maybe, colour: red }
extra: 1
`);
    const expected = [
      "extra: unknown key",
      'name: "Web_App" is not a valid app name',
      "command: is required (or give an image)",
      "env.1BAD: is not a valid variable name",
      "instances: -1 must be at least 0",
      'resources.cpus: "fast" is not a number',
      'health_check.interval: "soon" is not a duration',
      'health_check.http.path: "nope" must start with "/"',
      "health_check.http.port_index: 0 but the app asks for 0 port(s)",
      'constraints[0]: "SOMETIMES" is not an operator',
      'constraints[1]: "([" is not a regular expression',
      'constraints[2]: 7 is not "FIELD OPERATOR [VALUE]"',
      "rollout.colour: unknown key",
      "rollout.steps[1]: 150% is over 100%",
      "rollout.max_surge: -2 is not a whole number of instances",
      'rollout.auto_rollback: "maybe" is not true or false',
    ];
    for (const e of expected) {
      assert.ok(
        got.some((p) => p.startsWith(e)),
        `missing "${e}" in:\n${got.join("\n")}`,
      );
    }
  });

  test("the last step must reach every instance and steps must not go down", () => {
    const got = problems("name: a\ncommand: x\ninstances: 10\nrollout: { steps: [5, 2, 50%] }\n");
    assert.ok(got.includes("rollout.steps[1]: steps must not go down"), got.join("\n"));
    assert.ok(
      got.includes("rollout.steps[2]: the last step must be 100% (or all instances)"),
      got.join("\n"),
    );
  });

  test("zero surge and zero unavailable is refused: nothing could ever be replaced", () => {
    const got = problems("name: a\ncommand: x\nrollout: { max_surge: 0, max_unavailable: 0 }\n");
    assert.deepEqual(got, [
      "rollout: max_surge and max_unavailable are both 0: no instance could ever be replaced",
    ]);
  });

  test("a health check needs exactly one kind", () => {
    assert.deepEqual(problems("name: a\ncommand: x\nhealth_check: { tcp: {}, command: true }\n"), [
      "health_check: give exactly one of http, tcp or command (found 2)",
    ]);
  });

  test("YAML that does not parse is one problem", () => {
    assert.equal(problems("name: [unclosed\n").length, 1);
  });

  test("percentages round up for surge and steps, down for unavailability", () => {
    assert.equal(amountOf({ percent: 10 }, 3, "up"), 1);
    assert.equal(amountOf({ percent: 25 }, 3, "down"), 0);
    assert.equal(amountOf({ percent: 10 }, 30, "up"), 3);
    assert.equal(amountOf({ percent: 10 }, 30, "down"), 3);
    assert.equal(amountOf({ count: 4 }, 3, "up"), 4);
  });

  test("a change of instances alone is a scale, anything else a new revision", () => {
    const a = parseAppSpec("name: a\ncommand: x\ninstances: 2\n");
    assert.equal(sameExceptInstances(a, parseAppSpec("name: a\ncommand: x\ninstances: 5\n")), true);
    assert.equal(sameExceptInstances(a, parseAppSpec("name: a\ncommand: y\ninstances: 2\n")), false);
  });
});
