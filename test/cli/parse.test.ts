import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as p from "../../cli/parse.js";

describe("value parsers", () => {
  test("port ranges: merged and sorted; brackets, YAML lists", () => {
    assert.deepEqual(p.portRanges("31000-32000"), [{ begin: 31000, end: 32000 }]);
    assert.deepEqual(p.portRanges("[33000,31000-31005,31006-31010]"), [
      { begin: 31000, end: 31010 },
      { begin: 33000, end: 33000 },
    ]);
    assert.deepEqual(p.portRanges(["8080", "9000-9001"]), [
      { begin: 8080, end: 8080 },
      { begin: 9000, end: 9001 },
    ]);
  });

  test("bad port ranges", () => {
    assert.throws(() => p.portRanges("5-3"), /"5-3" ends before it begins/);
    assert.throws(() => p.portRanges("1-70000"), /outside 1-65535/);
    assert.throws(() => p.portRanges("a-b"), /"a-b" is not BEGIN-END/);
  });

  test("attributes: NAME=VALUE; a later one of the same name wins", () => {
    assert.deepEqual(p.attributes(["zone=a", "zone=b"]), [{ name: "zone", value: "b" }]);
    assert.deepEqual(p.attributes("rack = r1"), [{ name: "rack", value: "r1" }]);
    assert.throws(() => p.attributes("zone"), /"zone" is not NAME=VALUE/);
    assert.throws(() => p.attributes("=a"), /"=a" is not NAME=VALUE/);
    assert.throws(() => p.attributes("zone="), /"zone=" is not NAME=VALUE/);
  });

  test("numbers", () => {
    assert.equal(p.nonNegative("0.5"), 0.5);
    assert.equal(p.nonNegative(0), 0);
    assert.throws(() => p.nonNegative("-0.1"), /must not be negative/);
    assert.throws(() => p.number(""), /not a number/);
    assert.throws(() => p.positiveInt("1.5"), /whole number, 1 or more/);
    assert.throws(() => p.port("65536"), /not a port/);
    assert.equal(p.port("0"), 0);
  });

  test("host:port", () => {
    assert.equal(p.hostPort("master.example:7070"), "master.example:7070");
    assert.equal(p.hostPort("[::1]:7070"), "[::1]:7070");
    assert.throws(() => p.hostPort("master"), /not HOST:PORT/);
    assert.throws(() => p.hostPort("master:0"), /not HOST:PORT/);
  });

  test("lists and maps are refused where one value is expected", () => {
    assert.throws(() => p.text(["a"]), /single value/);
    assert.deepEqual(p.stringList("process, docker"), ["process", "docker"]);
  });
});
