// The app spec's bounds (common/limits.ts): each problem names the field, the value and the limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseAppSpec, SpecError } from "../../../frameworks/service/app-spec.js";

function problems(yaml: string): string[] {
  try {
    parseAppSpec(yaml);
  } catch (err) {
    assert.ok(err instanceof SpecError, String(err));
    return err.problems;
  }
  assert.fail("the spec was accepted");
}

const base = (extra: string) => `name: web\ncommand: sleep 100\n${extra}\n`;

describe("app spec limits", () => {
  const refused: { name: string; yaml: string; want: string[] }[] = [
    {
      name: "instances: 1e100",
      yaml: base("instances: 1e100"),
      want: ["instances: 1e+100 is over the limit of 10,000"],
    },
    {
      name: "instances one over",
      yaml: base("instances: 10001"),
      want: ["instances: 10001 is over the limit of 10,000"],
    },
    {
      name: "a surge count over the instance limit",
      yaml: base("rollout: { max_surge: 20000 }"),
      want: ["rollout.max_surge: 20000 is over the limit of 10,000 instances"],
    },
    {
      name: "a command over 64 KiB",
      yaml: `name: web\ncommand: ${"x".repeat(70_000)}\n`,
      want: ["command: command length 70,000 bytes is over the limit of 64 KiB"],
    },
    {
      name: "an environment over its size",
      yaml: base(`env: { BIG: ${"x".repeat(64_600)} }`),
      want: ["env: environment size 64,603 bytes is over the limit of 63 KiB"],
    },
    {
      name: "too many variables",
      yaml: base(`env: { ${Array.from({ length: 1_100 }, (_, i) => `V${i}: x`).join(", ")} }`),
      want: ["env: environment count 1,100 is over the limit of 1,008"],
    },
    {
      name: "ports",
      yaml: base("resources: { ports: 101 }"),
      want: ["resources.ports: 101 is over the limit of 100"],
    },
  ];
  for (const c of refused) test(`refused: ${c.name}`, () => assert.deepEqual(problems(c.yaml), c.want));

  test("a spec over 256 KiB is refused before it is parsed", () => {
    // Not YAML at all: had it been parsed, the problem would be a syntax error.
    const huge = `name: web\n${"{".repeat(300_000)}`;
    assert.deepEqual(problems(huge), ["(file): the spec is 300,010 bytes, over the limit of 256 KiB"]);
  });

  test("everything at its limit is accepted", () => {
    const s = parseAppSpec(
      `name: web\ncommand: ${"x".repeat(65_536)}\ninstances: 10000\nresources: { cpus: 0.1, mem: 64, ports: 100 }\n`,
    );
    assert.equal(s.instances, 10_000);
    assert.equal(s.command.length, 65_536);
  });
});
