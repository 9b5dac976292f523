// yardctl as a process: bad flags and an unreachable master give one line on stderr, the
// documented exit code, and no stack trace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { tlsEnv } from "../tls-fixture.js";

const YARDCTL = fileURLToPath(new URL("../../cli/yardctl.js", import.meta.url));
let home: string;

function yardctl(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [YARDCTL, ...args], {
    encoding: "utf8",
    timeout: 15_000,
    // A clean environment: no YARD_* from the caller, an empty home with no token or config;
    // only the test CA's certificates (tls-fixture.ts).
    env: { PATH: process.env.PATH ?? "", YARD_HOME: home, ...tlsEnv(), ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function assertOneLine(stderr: string, pattern: RegExp) {
  const lines = stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `expected one line on stderr, got: ${stderr}`);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
}

/** A port nothing listens on: bind one, then let it go. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

before(() => {
  home = mkdtempSync(join(tmpdir(), "yardctl-test-"));
});
after(() => rmSync(home, { recursive: true, force: true }));

describe("bad flags: exit 2 and one line naming the flag and the value", () => {
  const cases: { args: string[]; env?: Record<string, string>; line: RegExp }[] = [
    {
      args: ["run", "--cpus", "-1", "--", "echo", "hi"],
      line: /^yardctl: --cpus "-1": must not be negative$/,
    },
    { args: ["agent", "--ports", "5-3"], line: /^yardctl: --ports "5-3": "5-3" ends before it begins$/ },
    {
      args: ["agent", "--attribute", "zone=a", "--attribute", "rack"],
      line: /^yardctl: --attribute .*"rack" is not NAME=VALUE/,
    },
    { args: ["agent"], env: { YARD_MEM: "lots" }, line: /^yardctl: YARD_MEM "lots": not a number$/ },
    { args: ["get", "agents", "--master", "nohost"], line: /^yardctl: --master "nohost": not HOST:PORT/ },
    { args: ["get", "nodes"], line: /^yardctl: get: "nodes" is not a kind/ },
    { args: ["get", "agents", "-o", "yaml"], line: /^yardctl: --output "yaml": must be table or json$/ },
    { args: ["get", "agents", "--bogus"], line: /^yardctl: unknown option '--bogus'/ },
    { args: ["frobnicate"], line: /^yardctl: unknown command 'frobnicate'/ },
    {
      args: ["events", "--since", "abc"],
      line: /^yardctl: --since: "abc" is not an event index \(a whole number from 1 on\)$/,
    },
    { args: ["events", "--since", "0"], line: /^yardctl: --since: "0" is not an event index/ },
    { args: ["events", "--since", "3", "--replay"], line: /^yardctl: --since and --replay: give one/ },
    { args: ["master", "--events-kept", "0"], line: /^yardctl: --events-kept "0"/ },
    { args: ["run"], line: /^yardctl: missing required argument 'command'$/ },
    {
      args: ["logs", "t1", "--tail", "-5"],
      line: /^yardctl: --tail "-5": must be a whole number, 0 or more$/,
    },
    {
      args: ["get", "agents", "--config", "/nonexistent/yard.yaml"],
      line: /^yardctl: --config "\/nonexistent\/yard.yaml": cannot read it \(ENOENT\)$/,
    },
  ];
  for (const c of cases) {
    test(c.args.join(" "), () => {
      const r = yardctl(c.args, c.env);
      assert.equal(r.code, 2, r.stderr);
      assertOneLine(r.stderr, c.line);
    });
  }
});

test("an unreachable master: exit 3 and how to start one", async () => {
  const port = await deadPort();
  for (const args of [
    ["get", "agents"],
    ["kill", "t1"],
    ["run", "--", "echo", "hi"],
    ["logs", "t1"],
    ["events"],
  ]) {
    // Options go before the command's arguments: after "--", run takes everything as the command.
    const r = yardctl([args[0], "--master", `127.0.0.1:${port}`, ...args.slice(1)]);
    assert.equal(r.code, 3, `${args.join(" ")}: ${r.stderr}`);
    assertOneLine(
      r.stderr,
      new RegExp(
        `^yardctl: cannot reach the master at 127\\.0\\.0\\.1:${port} \\(is it running\\? start one with "yardctl up"\\)$`,
      ),
    );
  }
});

test("YARD_MASTER is the address when no --master is given", async () => {
  const port = await deadPort();
  const r = yardctl(["get", "tasks"], { YARD_MASTER: `127.0.0.1:${port}` });
  assert.equal(r.code, 3);
  assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
});

test("a port in use: one line and exit 1", async () => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  try {
    const r = yardctl(["master", "--port", String(port), "--http-port", "0"]);
    assert.equal(r.code, 1, r.stderr);
    assertOneLine(
      r.stderr,
      new RegExp(`^yardctl: port ${port} on 127\\.0\\.0\\.1 is already in use \\(--port\\)`),
    );
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test("version and help exit 0", () => {
  const v = yardctl(["version"]);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^yardctl \d+\.\d+\.\d+\n$/);
  const h = yardctl(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: yardctl/);
});
