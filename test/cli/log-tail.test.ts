// logs --tail N: the last N lines of what a byte window holds, or "read more" when the
// window cut the first of them and the file goes on before it.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { firstWindow, lastLines } from "../../cli/log-tail.js";

const b = (s: string) => Buffer.from(s);
const text = (x: Buffer | undefined) => (x === undefined ? undefined : x.toString());

describe("lastLines", () => {
  const cases: { name: string; data: string; n: number; fromStart: boolean; want: string | undefined }[] = [
    { name: "the last two of three", data: "a\nb\nc\n", n: 2, fromStart: true, want: "b\nc\n" },
    { name: "an unfinished last line counts", data: "a\nb\nc", n: 2, fromStart: true, want: "b\nc" },
    {
      name: "fewer lines than asked, at the file's start: all",
      data: "a\nb\n",
      n: 5,
      fromStart: true,
      want: "a\nb\n",
    },
    {
      name: "fewer lines than asked, mid-file: read more",
      data: "tial\nb\n",
      n: 5,
      fromStart: false,
      want: undefined,
    },
    {
      name: "mid-file, the cut line is dropped",
      data: "tial\nb\nc\n",
      n: 2,
      fromStart: false,
      want: "b\nc\n",
    },
    {
      name: "mid-file, exactly the cut line would be needed",
      data: "tial\nb\n",
      n: 2,
      fromStart: false,
      want: undefined,
    },
    { name: "0 lines", data: "a\nb\n", n: 0, fromStart: false, want: "" },
    { name: "an empty file", data: "", n: 3, fromStart: true, want: "" },
    { name: "empty lines are lines", data: "a\n\n\n", n: 2, fromStart: true, want: "\n\n" },
  ];
  for (const c of cases) {
    test(c.name, () => assert.equal(text(lastLines(b(c.data), c.n, c.fromStart)), c.want));
  }
});

test("the first window: 64 KiB, or 256 bytes per line asked past that", () => {
  assert.equal(firstWindow(10), 64 * 1024);
  assert.equal(firstWindow(1000), 256_000);
});
