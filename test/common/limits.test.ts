// The input bounds of common/limits.ts: each check names the field, the value and the limit.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  checkCommand,
  checkEnv,
  checkLabels,
  formatBytes,
  LIMITS,
  truncateUtf8,
  utf8Bytes,
} from "../../common/limits.js";

const vars = (n: number, value = "v") =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`V${i}`, value]));

describe("limits", () => {
  const cases: { name: string; got: () => unknown; want: unknown }[] = [
    {
      name: "a command at the limit passes",
      got: () => checkCommand("command", "x".repeat(65_536)),
      want: undefined,
    },
    {
      name: "a command one byte over",
      got: () => checkCommand("command", "x".repeat(65_537)),
      want: { field: "command", message: "command length 65,537 bytes is over the limit of 64 KiB" },
    },
    {
      name: "arguments count towards the command",
      got: () => checkCommand("t.command", "x".repeat(65_000), ["y".repeat(600)]),
      want: { field: "t.command", message: "command length 65,600 bytes is over the limit of 64 KiB" },
    },
    {
      name: "too many arguments",
      got: () => checkCommand("t.command", "echo", Array(1_025).fill("a")),
      want: { field: "t.command.arguments", message: "argument count 1,025 is over the limit of 1,024" },
    },
    {
      name: "multi-byte characters count as their UTF-8 bytes",
      got: () => checkCommand("command", "é".repeat(32_769)),
      want: { field: "command", message: "command length 65,538 bytes is over the limit of 64 KiB" },
    },
    { name: "1,024 variables pass", got: () => checkEnv("env", vars(1_024)), want: undefined },
    {
      name: "1,025 variables",
      got: () => checkEnv("env", vars(1_025)),
      want: { field: "env", message: "environment count 1,025 is over the limit of 1,024" },
    },
    {
      name: "an environment over 64 KiB",
      got: () => checkEnv("env", { BIG: "x".repeat(65_534) }),
      want: { field: "env", message: "environment size 65,537 bytes is over the limit of 64 KiB" },
    },
    {
      name: "a spec's environment keeps room for the framework's own variables",
      got: () => checkEnv("env", { BIG: "x".repeat(64_510) }, true),
      want: { field: "env", message: "environment size 64,513 bytes is over the limit of 63 KiB" },
    },
    {
      name: "a spec's variable count keeps room too",
      got: () => checkEnv("env", vars(1_009), true),
      want: { field: "env", message: "environment count 1,009 is over the limit of 1,008" },
    },
    {
      name: "labels over their count",
      got: () => checkLabels("t.labels", vars(129)),
      want: { field: "t.labels", message: "label count 129 is over the limit of 128" },
    },
    {
      name: "labels over their size",
      got: () => checkLabels("t.labels", { k: "x".repeat(16_384) }),
      want: { field: "t.labels", message: "label size 16,385 bytes is over the limit of 16 KiB" },
    },
    {
      name: "round sizes in units",
      got: () => [formatBytes(10 * 1024 * 1024), formatBytes(262_144)],
      want: ["10 MiB", "256 KiB"],
    },
    { name: "other sizes exact", got: () => formatBytes(10_000_000), want: "10,000,000 bytes" },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(c.got(), c.want));

  test("a status message is cut to the limit, on a character boundary, saying how much it was", () => {
    const long = `${"é".repeat(10_000)}end`;
    const cut = truncateUtf8(long, LIMITS.statusMessageBytes);
    assert.ok(utf8Bytes(cut) <= LIMITS.statusMessageBytes, `${utf8Bytes(cut)} bytes`);
    assert.ok(utf8Bytes(cut) > LIMITS.statusMessageBytes - 64, "nearly all of the room is used");
    assert.ok(!cut.includes("\uFFFD"), "no character is split");
    assert.match(cut, /^é+ … \[20,003 bytes message truncated\]$/);
    assert.equal(truncateUtf8("short", 4096), "short");
  });
});
