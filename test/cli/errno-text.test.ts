// System errors as sentences with their path or address, never the bare errno code.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { describeSystemError, errnoCode, errnoSentence } from "../../cli/errno-text.js";

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("it did not throw");
}

describe("errno text", () => {
  test("a file that is not there: the sentence and the path", () => {
    const err = thrown(() => readFileSync("/nonexistent/yard.yaml"));
    assert.equal(errnoCode(err), "ENOENT");
    assert.equal(errnoSentence(err), "no such file or directory");
    assert.equal(describeSystemError(err), "no such file or directory: /nonexistent/yard.yaml");
  });

  test("a directory read as a file (Node gives no path with this one): the sentence alone", () => {
    assert.equal(describeSystemError(thrown(() => readFileSync("/"))), "it is a directory");
  });

  const cases: [Record<string, unknown>, string][] = [
    [{ code: "EACCES", path: "/etc/yard/token" }, "permission denied: /etc/yard/token"],
    [{ code: "EADDRINUSE", address: "127.0.0.1", port: 7070 }, "address already in use: 127.0.0.1:7070"],
    [{ code: "ECONNREFUSED", address: "127.0.0.1", port: 1 }, "connection refused: 127.0.0.1:1"],
    [{ code: "EWEIRD", message: "EWEIRD: something odd, open '/x'" }, "something odd"],
  ];
  for (const [err, want] of cases) {
    test(String(err.code), () => assert.equal(describeSystemError(err), want));
  }

  test("not a system error", () => {
    assert.equal(errnoCode(new Error("plain")), undefined);
    assert.equal(errnoCode({ code: 14 }), undefined);
  });
});
