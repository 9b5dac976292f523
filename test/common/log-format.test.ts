// Which format and level a process logs with, from its environment and its stderr.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { chooseLogFormat, chooseLogLevel } from "../../common/log-format.js";

describe("chooseLogFormat", () => {
  const cases: [string, string | undefined, boolean, string][] = [
    ["a terminal gets pretty lines", undefined, true, "pretty"],
    ["a pipe or a file gets JSON", undefined, false, "json"],
    ["YARD_LOG_FORMAT=json wins on a terminal", "json", true, "json"],
    ["YARD_LOG_FORMAT=pretty wins on a pipe", "pretty", false, "pretty"],
    ["case and spaces do not matter", " PRETTY ", false, "pretty"],
    ["an unknown value falls back to the terminal rule", "yaml", false, "json"],
    ["an empty value falls back to the terminal rule", "", true, "pretty"],
  ];
  for (const [name, override, tty, expected] of cases) {
    test(name, () => assert.equal(chooseLogFormat(override, tty), expected));
  }
});

describe("chooseLogLevel", () => {
  const cases: [string | undefined, string][] = [
    [undefined, "info"],
    ["debug", "debug"],
    ["WARN", "warn"],
    ["error", "error"],
    ["silent", "silent"],
    ["verbose", "info"],
  ];
  for (const [value, expected] of cases) {
    test(`YARD_LOG_LEVEL=${value ?? "(unset)"} is ${expected}`, () =>
      assert.equal(chooseLogLevel(value), expected));
  }
});
