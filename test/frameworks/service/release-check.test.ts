import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { status as Code } from "@grpc/grpc-js";
import type { StoredReleaseInfo } from "../../../framework-sdk/index.js";
import { type ReleaseLookup, requireSpecRelease } from "../../../frameworks/service/release-check.js";

const SPEC = (release: string) =>
  [
    "name: web",
    ...(release ? [`release: ${release}`] : []),
    "command: ./server",
    "instances: 1",
    "resources: { cpus: 0.1, mem: 64 }",
    "",
  ].join("\n");

const STORED: Record<string, StoredReleaseInfo> = {
  "web@1": { release: "web@1", sha256: "a".repeat(64), size: 10, corrupt: false, corruptMessage: "" },
  "web@2": {
    release: "web@2",
    sha256: "b".repeat(64),
    size: 10,
    corrupt: true,
    corruptMessage: "its blob /x has sha256 c…, not b…",
  },
};

function lookup(asked: string[]): ReleaseLookup {
  return async (r) => {
    asked.push(r);
    return STORED[r];
  };
}

describe("a spec's release must be stored and sound at apply", () => {
  test("a stored, sound release passes", async () => {
    const asked: string[] = [];
    await requireSpecRelease(SPEC("web@1"), lookup(asked));
    assert.deepEqual(asked, ["web@1"]);
  });

  test("a release the master does not store: INVALID_ARGUMENT on field release, naming it", async () => {
    await assert.rejects(requireSpecRelease(SPEC("web@9"), lookup([])), (err: any) => {
      assert.equal(err.code, Code.INVALID_ARGUMENT);
      assert.equal(err.field, "release");
      assert.match(err.message, /^release: web@9 is not stored on the master; push it first/);
      return true;
    });
  });

  test("a corrupt release is refused the same way, with the cause", async () => {
    await assert.rejects(requireSpecRelease(SPEC("web@2"), lookup([])), (err: any) => {
      assert.equal(err.code, Code.INVALID_ARGUMENT);
      assert.match(err.message, /^release: web@2 is corrupt on the master \(its blob \/x has sha256/);
      return true;
    });
  });

  test("a master that cannot be asked: FAILED_PRECONDITION, nothing applied", async () => {
    const down: ReleaseLookup = async () => {
      throw new Error("Status failed: connect ECONNREFUSED (UNAVAILABLE)");
    };
    await assert.rejects(requireSpecRelease(SPEC("web@1"), down), (err: any) => {
      assert.equal(err.code, Code.FAILED_PRECONDITION);
      assert.match(err.message, /cannot check that web@1 is stored on the master: .*ECONNREFUSED/);
      return true;
    });
  });

  test("no release, or a spec that does not parse, asks nothing (Apply reports the spec's problems)", async () => {
    const asked: string[] = [];
    await requireSpecRelease(SPEC(""), lookup(asked));
    await requireSpecRelease("name: [", lookup(asked));
    assert.deepEqual(asked, []);
  });
});
