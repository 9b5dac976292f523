// yardctl's reading of a gRPC size refusal: the peer is up and the input too big, so it is
// the operator's to fix (exit 2), not "cannot reach" (exit 3).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metadata, status } from "@grpc/grpc-js";
import { CliError, ExitCode, fromGrpcError } from "../../cli/errors.js";

describe("a request over a size limit", () => {
  test("RESOURCE_EXHAUSTED is reported as too large, exit 2", () => {
    const err = fromGrpcError(
      {
        name: "Error",
        code: status.RESOURCE_EXHAUSTED,
        details: "Received message larger than max (10485800 vs 1048576)",
        message: "8 RESOURCE_EXHAUSTED: Received message larger than max (10485800 vs 1048576)",
        metadata: new Metadata(),
      },
      { what: "the service framework", address: "127.0.0.1:7072" },
    );
    assert.ok(err instanceof CliError);
    assert.equal(err.exitCode, ExitCode.USAGE);
    assert.equal(
      err.message,
      "the service framework at 127.0.0.1:7072 refused the request as too large: Received message larger than max (10485800 vs 1048576)",
    );
  });
});
