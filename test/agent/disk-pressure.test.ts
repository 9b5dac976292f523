import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isDiskWriteError } from "../../agent/disk-pressure.js";
import { reserveBytes } from "../../agent/disk-space.js";

const MiB = 1024 * 1024;

describe("isDiskWriteError", () => {
  for (const code of ["SQLITE_FULL", "SQLITE_IOERR", "SQLITE_IOERR_WRITE", "ENOSPC", "EDQUOT", "EIO"]) {
    test(`${code} is a want of disk`, () => {
      assert.equal(isDiskWriteError(Object.assign(new Error("x"), { code })), true);
    });
  }
  for (const code of ["SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CORRUPT", "EACCES", undefined, 28]) {
    test(`${String(code)} is not`, () => {
      assert.equal(isDiskWriteError(Object.assign(new Error("x"), { code })), false);
    });
  }
  test("non-errors are not", () => {
    assert.equal(isDiskWriteError(undefined), false);
    assert.equal(isDiskWriteError("SQLITE_FULL"), false);
  });
});

describe("reserveBytes", () => {
  test("5 % of a small disk", () => {
    assert.equal(reserveBytes(32 * MiB), Math.floor(32 * MiB * 0.05));
  });
  test("at most 64 MiB on a large one", () => {
    assert.equal(reserveBytes(100 * 1024 * MiB), 64 * MiB);
  });
  test("the configured MiB win, 0 included", () => {
    assert.equal(reserveBytes(100 * 1024 * MiB, 2), 2 * MiB);
    assert.equal(reserveBytes(32 * MiB, 0), 0);
  });
});
