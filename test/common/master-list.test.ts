// Parsing a master list: what operators write after --master, in YARD_MASTER or a config file.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatMasterList, MasterListError, parseMasterList } from "../../common/master-list.js";

describe("parseMasterList", () => {
  const cases: [string, unknown, string[]][] = [
    ["one master", "127.0.0.1:7070", ["127.0.0.1:7070"]],
    ["three, in order", "a:7070,b:7070,c:7070", ["a:7070", "b:7070", "c:7070"]],
    ["whitespace around entries", " a:7070 , b:7070\t,c:7070 ", ["a:7070", "b:7070", "c:7070"]],
    ["duplicates removed, the first kept", "b:1,a:1,b:1", ["b:1", "a:1"]],
    ["empty entries ignored", "a:1,,b:2,", ["a:1", "b:2"]],
    ["a YAML list", ["a:1", "b:2"], ["a:1", "b:2"]],
    ["a YAML list whose entries hold commas", ["a:1,b:2", "c:3"], ["a:1", "b:2", "c:3"]],
    ["IPv6 in brackets", "[::1]:7070,[fe80::1]:7071", ["[::1]:7070", "[fe80::1]:7071"]],
  ];
  for (const [name, raw, want] of cases) {
    test(name, () => assert.deepEqual(parseMasterList(raw, "--master"), want));
  }

  const bad: [string, unknown, string, RegExp][] = [
    ["no port", "a:7070,b", "--master", /^--master "b": not HOST:PORT/],
    ["port 0", "a:0", "YARD_MASTER", /^YARD_MASTER "a:0": not HOST:PORT/],
    ["port past 65535", "a:70000", "--master", /"a:70000"/],
    ["a scheme", "http://a:7070", "master in config.yaml", /^master in config.yaml "http:\/\/a:7070"/],
    ["nothing", " , ", "--master", /names no master/],
    ["a map", { a: 1 }, "master in config.yaml", /not a list of HOST:PORT/],
  ];
  for (const [name, raw, field, want] of bad) {
    test(`refused: ${name}, naming the field and the value`, () => {
      assert.throws(
        () => parseMasterList(raw, field),
        (err: unknown) => err instanceof MasterListError && err.field === field && want.test(err.message),
      );
    });
  }

  test("formats back to what an operator writes", () => {
    assert.equal(formatMasterList(parseMasterList("a:1, b:2", "--master")), "a:1,b:2");
  });
});
