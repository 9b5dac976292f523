import assert from "node:assert/strict";
import { test } from "node:test";
import { parseByteRate } from "../../../agent/fetcher/byte-rate.js";

test("byte rates: binary multiples, optional B and /s", () => {
  const cases: [string, number][] = [
    ["65536", 65536],
    ["512K", 512 * 1024],
    ["10M", 10 * 1024 * 1024],
    ["10MB/s", 10 * 1024 * 1024],
    ["1.5g", 1.5 * 1024 ** 3],
    ["0", 0],
  ];
  for (const [text, want] of cases) assert.equal(parseByteRate(text), want, text);
  for (const bad of ["", "ten", "10T", "-5M", "10 M M"]) {
    assert.throws(() => parseByteRate(bad), /is not a rate such as 10M/, bad);
  }
});
