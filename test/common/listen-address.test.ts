import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { InvalidArgumentError } from "../../common/errors.js";
import { parseListenAddress } from "../../common/listen-address.js";

describe("parseListenAddress", () => {
  const good: [string, string, { host: string; port: number }][] = [
    ["IPv4", "127.0.0.1:9100", { host: "127.0.0.1", port: 9100 }],
    ["a name", "metrics.local:80", { host: "metrics.local", port: 80 }],
    ["IPv6 in brackets", "[::1]:9100", { host: "::1", port: 9100 }],
    ["port 0: a free one", "127.0.0.1:0", { host: "127.0.0.1", port: 0 }],
  ];
  for (const [name, value, expected] of good) {
    test(name, () => assert.deepEqual(parseListenAddress("metricsListen", value), expected));
  }
  for (const bad of ["9100", "127.0.0.1:", "127.0.0.1:70000", "::1:9100", "host:port", ""]) {
    test(`refuses ${JSON.stringify(bad)}, naming the field and the value`, () => {
      assert.throws(
        () => parseListenAddress("metricsListen", bad),
        (err: unknown) =>
          err instanceof InvalidArgumentError &&
          err.field === "metricsListen" &&
          err.message.includes(JSON.stringify(bad)),
      );
    });
  }
});
