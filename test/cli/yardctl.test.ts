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
    {
      args: ["get", "agents", "-o", "xml"],
      line: /^yardctl: --output "xml": must be table, wide, json or yaml$/,
    },
    {
      args: ["rollout", "status", "web", "-o", "wide"],
      line: /^yardctl: --output "wide": must be table, json or yaml$/,
    },
    {
      args: ["release", "ls", "-o", "csv"],
      line: /^yardctl: --output "csv": must be table, wide, json or yaml$/,
    },
    {
      args: ["explain", "app/web", "-o", "table"],
      line: /^yardctl: --output "table": must be text, json or yaml$/,
    },
    {
      args: ["scale", "web", "10001"],
      line: /^yardctl: <instances> "10001": must be at most 10,000 \(the service framework's limit of instances per app\)$/,
    },
    {
      args: ["scale", "web", "2.5"],
      line: /^yardctl: <instances> "2.5": must be a whole number, 0 or more$/,
    },
    {
      args: ["completion", "fish"],
      line: /^yardctl: completion: "fish" is not a shell this supports \(bash, zsh\)$/,
    },
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
      line: /^yardctl: --config "\/nonexistent\/yard.yaml": cannot read it \(no such file or directory\)$/,
    },
    {
      args: ["deploy", "-f", "/nonexistent/app.yaml"],
      line: /^yardctl: --file "\/nonexistent\/app.yaml": cannot read it \(no such file or directory\)$/,
    },
    {
      args: ["release", "push", "web@1", "/nonexistent/web"],
      line: /^yardctl: release push: "\/nonexistent\/web": no such file or directory$/,
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

test("version with no master: the client's line, then exit 3 saying the master cannot be reached", async () => {
  const port = await deadPort();
  const r = yardctl(["version", "--master", `127.0.0.1:${port}`]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stdout, /^client: yardctl \d+\.\d+\.\d+\n$/);
  assertOneLine(r.stderr, new RegExp(`^yardctl: cannot reach the master at 127\\.0\\.0\\.1:${port} `));
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

test("a file that cannot be written: a sentence and the path, exit 1", () => {
  const r = yardctl(["token", "create", "bob", "--out", "/nonexistent/dir/bob.token"]);
  assert.equal(r.code, 1, r.stderr);
  assertOneLine(r.stderr, /^yardctl: no such file or directory: \/nonexistent\/dir\/bob\.token$/);
});

test("version --client and help exit 0 without a master", () => {
  const v = yardctl(["version", "--client"]);
  assert.equal(v.code, 0, v.stderr);
  assert.match(v.stdout, /^client: yardctl \d+\.\d+\.\d+\n$/);
  const h = yardctl(["--help"]);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /Usage: yardctl/);
});
