// What never reaches a log: secret-named fields at any depth, inline credentials in text, and
// the same through a real pino root logger (redact paths, the walker, the error serializer).
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, test } from "node:test";
import {
  isSecretFieldName,
  REDACT_PATHS,
  REDACTED,
  redactSecrets,
  scrubSecretText,
} from "../../common/log-redaction.js";
import { createLogger, createRootLogger } from "../../common/logger.js";

describe("isSecretFieldName", () => {
  const secret = [
    "token",
    "clusterToken",
    "accessToken",
    "authorization",
    "Authorization",
    "password",
    "passwd",
    "secret",
    "frameworkSecret",
    "agent_secret",
    "secretHash",
    "privateKey",
    "private_key",
    "keyPem",
    "swarmKey",
    "apiKey",
    "x-api-key",
    "cookie",
    "set-cookie",
    "credentials",
    "passkey",
  ];
  const plain = ["key", "release", "task", "infoHash", "peer", "err", "message", "tokensUsed"];
  for (const name of secret) test(`${name} is secret`, () => assert.equal(isSecretFieldName(name), true));
  for (const name of plain) test(`${name} is not`, () => assert.equal(isSecretFieldName(name), false));
});

describe("REDACT_PATHS", () => {
  test("each name at the top, one and two levels down; odd names in brackets", () => {
    for (const p of [
      "token",
      "*.token",
      "*.*.token",
      "authorization",
      "*.authorization",
      '["set-cookie"]',
      '*["set-cookie"]',
    ])
      assert.ok(REDACT_PATHS.includes(p), p);
  });
});

describe("redactSecrets", () => {
  test("secret fields at any depth, in arrays too", () => {
    const input = {
      task: "t1",
      token: "abc",
      a: { b: { c: { d: { password: "pw" } } } },
      list: [{ secret: "s" }, "plain"],
    };
    assert.deepEqual(redactSecrets(input), {
      task: "t1",
      token: REDACTED,
      a: { b: { c: { d: { password: REDACTED } } } },
      list: [{ secret: REDACTED }, "plain"],
    });
  });

  test("never mutates the caller's object, and returns it as is when there is nothing to hide", () => {
    const live = { session: { token: "abc" } };
    redactSecrets(live);
    assert.equal(live.session.token, "abc");
    const clean = { task: "t1", n: 3, nested: { ok: true } };
    assert.equal(redactSecrets(clean), clean);
  });

  test("a cycle ends the walk instead of the process", () => {
    const a: Record<string, unknown> = { token: "x" };
    a.self = a;
    assert.equal((redactSecrets(a) as Record<string, unknown>).token, REDACTED);
  });
});

describe("scrubSecretText", () => {
  const cases: [string, string, string][] = [
    ["a bearer header", "sent Authorization: Bearer abcdef123456", `sent Authorization: Bearer ${REDACTED}`],
    ["basic credentials", "Basic dXNlcjpwYXNzd29yZA==", `Basic ${REDACTED}`],
    [
      "a password in a URL",
      "dial http://user:hunter2@etcd:2379 failed",
      `dial http://user:${REDACTED}@etcd:2379 failed`,
    ],
    [
      "a PEM private key",
      "key: -----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY----- end",
      `key: ${REDACTED} end`,
    ],
    [
      "words that only look like schemes",
      "basic setup done; bearer token missing",
      "basic setup done; bearer token missing",
    ],
  ];
  for (const [name, input, expected] of cases)
    test(name, () => assert.equal(scrubSecretText(input), expected));
});

/** A root logger writing JSON records into an array. */
function capture(): {
  records: () => Record<string, unknown>[];
  raw: () => string;
  log: ReturnType<typeof createLogger>;
} {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  const root = createRootLogger({ level: "debug", format: "json", destination });
  return {
    records: () =>
      chunks
        .join("")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    raw: () => chunks.join(""),
    log: createLogger("test-component", root),
  };
}

describe("a root logger's records", () => {
  test("carry time, level, component and msg, and hide secrets at every depth", () => {
    const c = capture();
    c.log.info("hello", {
      token: "t0ken-value",
      call: { headers: { authorization: "Bearer t0ken-value" } },
      deep: { a: { b: { c: { clientSecret: "t0ken-value" } } } },
    });
    const [r] = c.records();
    assert.equal(r!.msg, "hello");
    assert.equal(r!.level, "info");
    assert.equal(r!.component, "test-component");
    assert.ok(!Number.isNaN(Date.parse(String(r!.time))));
    assert.ok(!c.raw().includes("t0ken-value"), c.raw());
    assert.equal(r!.token, REDACTED);
  });

  test("an Error under err, or under the old error field, is one record with its stack", () => {
    const c = capture();
    c.log.error("failed", { err: new Error("boom") });
    c.log.warn("failed the old way", { error: new TypeError("bad") });
    const [a, b] = c.records() as { err: { type: string; message: string; stack: string } }[];
    assert.equal(a!.err.message, "boom");
    assert.match(a!.err.stack, /^Error: boom\n\s+at /);
    assert.equal(b!.err.type, "TypeError");
    assert.equal(c.raw().trim().split("\n").length, 2);
  });

  test("an error's text and fields are scrubbed; a gRPC error's metadata is dropped", () => {
    const c = capture();
    const err = Object.assign(new Error("refused Bearer sekret-value-1"), {
      code: 16,
      metadata: { authorization: "Bearer sekret-value-1" },
      token: "sekret-value-1",
    });
    c.log.warn("call failed", { err });
    const [r] = c.records() as { err: Record<string, unknown> }[];
    assert.ok(!c.raw().includes("sekret-value-1"), c.raw());
    assert.equal(r!.err.code, 16);
    assert.equal(r!.err.metadata, undefined);
    assert.equal(r!.err.token, REDACTED);
  });

  test("the level threshold holds", () => {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    });
    const log = createLogger("x", createRootLogger({ level: "warn", format: "json", destination }));
    log.info("hidden");
    log.warn("shown");
    assert.deepEqual(
      chunks.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ["shown"],
    );
  });
});
