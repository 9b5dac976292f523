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

describe("roles", () => {
  test("flag entries NAME=WEIGHT[/QUOTA], and a YAML map", () => {
    assert.deepEqual(p.roles(["analytics=2/cpus:8;mem:4096", "web=1"]), {
      analytics: { weight: 2, quota: { cpus: 8, mem: 4096, disk: 0, ports: [] } },
      web: { weight: 1 },
    });
    assert.deepEqual(p.roles({ batch: { weight: 3, quota: "cpus:2" } }), {
      batch: { weight: 3, quota: { cpus: 2, mem: 0, disk: 0, ports: [] } },
    });
  });

  test("bad entries name the role and the value", () => {
    assert.throws(() => p.roles("analytics=-2"), /role analytics: weight "-2" is not a positive number/);
    assert.throws(() => p.roles("analytics"), /"analytics" is not NAME=WEIGHT\[\/QUOTA\]/);
    assert.throws(() => p.roles("a=1/gpus:2"), /role a: quota: unknown resource "gpus"/);
    assert.throws(() => p.roles("bad name=1"), /role "bad name" is not a valid role name/);
  });
});
