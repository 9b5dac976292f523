import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { CliError, describeFailure, ExitCode, expectFound, fromGrpcError } from "../../cli/errors.js";

const grpcError = (code: status, details: string) =>
  Object.assign(new Error(details), { code, details, metadata: new Metadata() });
const peer = { what: "the master", address: "10.0.0.1:7070" };

describe("fromGrpcError", () => {
  const cases: { code: status; exit: number; line: RegExp }[] = [
    {
      code: status.UNAVAILABLE,
      exit: ExitCode.UNREACHABLE,
      line: /^cannot reach the master at 10.0.0.1:7070 \(is it running\? start one with "yardctl up"\)$/,
    },
    {
      code: status.DEADLINE_EXCEEDED,
      exit: ExitCode.UNREACHABLE,
      line: /^cannot reach the master at 10.0.0.1:7070/,
    },
    { code: status.UNAUTHENTICATED, exit: ExitCode.UNAUTHENTICATED, line: /refused the token: bad token/ },
    { code: status.NOT_FOUND, exit: ExitCode.NOT_FOUND, line: /^bad token$/ },
    { code: status.INVALID_ARGUMENT, exit: ExitCode.USAGE, line: /^bad token$/ },
    { code: status.FAILED_PRECONDITION, exit: ExitCode.FAILURE, line: /^bad token$/ },
  ];
  for (const c of cases) {
    test(status[c.code], () => {
      const { line, exitCode } = describeFailure(fromGrpcError(grpcError(c.code, "bad token"), peer));
      assert.equal(exitCode, c.exit);
      assert.match(line, c.line);
    });
  }
});

test("a stream ended for a reader that fell behind is a failure, not input too large", () => {
  const err = grpcError(status.RESOURCE_EXHAUSTED, "log reader too slow; read again with --tail to resume");
  const { line, exitCode } = describeFailure(fromGrpcError(err, peer));
  assert.equal(exitCode, ExitCode.FAILURE);
  assert.equal(
    line,
    "the master at 10.0.0.1:7070 ended the stream: log reader too slow; read again with --tail to resume",
  );
});

describe("describeFailure", () => {
  test("always one line", () => {
    assert.deepEqual(describeFailure(new CliError("first\nsecond", 4)), {
      line: "first; second",
      exitCode: 4,
    });
  });
  test("a port in use", () => {
    const err = Object.assign(new Error("listen EADDRINUSE: address already in use 127.0.0.1:7071"), {
      code: "EADDRINUSE",
    });
    assert.equal(describeFailure(err).exitCode, ExitCode.FAILURE);
    assert.match(describeFailure(err).line, /^address already in use/);
  });
});

test("expectFound names the kind and the id", async () => {
  await assert.rejects(
    expectFound(
      "task",
      "x",
      Promise.reject(fromGrpcError(grpcError(status.NOT_FOUND, "no such task"), peer)),
    ),
    (err: unknown) =>
      err instanceof CliError && err.message === 'task "x" not found' && err.exitCode === ExitCode.NOT_FOUND,
  );
  assert.equal(await expectFound("task", "x", Promise.resolve(5)), 5);
});
