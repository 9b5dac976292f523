// The logs of a real daemon (yardctl master, spawned): on a pipe, every line of its stderr is
// one JSON record with time, level, component and msg; an error record holds its stack in the
// same line; the cluster token never shows while the field that held it reads [Redacted]; the
// last record before the exit is there. With YARD_LOG_FORMAT=pretty, and on a terminal (a
// pseudo-terminal made by script(1)), the lines are for people, not JSON.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { REDACTED } from "../../common/log-redaction.js";
import { waitFor, YARDCTL } from "../cluster/harness.js";
import { type LogRecord, logRecords, parseLogRecord } from "../log-records.js";

const LOADED = 60_000;
const root = mkdtempSync(join(tmpdir(), "yard-logger-"));
after(() => rmSync(root, { recursive: true, force: true }));

interface Master {
  child: ChildProcess;
  dataDir: string;
  stdout: string[];
  stderr: string[];
  exited: Promise<void>;
}

/** `yardctl master` on free ports with `token` in its environment (never on its command line). */
function spawnMaster(name: string, token: string, env: Record<string, string> = {}): Master {
  const dataDir = join(root, name);
  const child = spawn(
    process.execPath,
    [YARDCTL, "master", "--insecure", "--port", "0", "--http-port", "0", "--data-dir", dataDir],
    {
      env: { PATH: process.env.PATH ?? "", YARD_TOKEN: token, YARD_LOG_LEVEL: "debug", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const m: Master = {
    child,
    dataDir,
    stdout: [],
    stderr: [],
    exited: new Promise((r) => child.once("exit", () => r())),
  };
  child.stdout!.on("data", (b: Buffer) => m.stdout.push(String(b)));
  child.stderr!.on("data", (b: Buffer) => m.stderr.push(String(b)));
  return m;
}

/** The master's HTTP port, once it printed where it listens. */
function httpPort(m: Master): Promise<number> {
  return waitFor(
    "the master to listen",
    () => {
      if (m.child.exitCode !== null) throw new Error(`the master exited: ${m.stderr.join("")}`);
      const port = /\(http [^:]+:(\d+)\)/.exec(m.stdout.join(""))?.[1];
      return port ? Number(port) : undefined;
    },
    LOADED,
  );
}

/** An announce for a release the master does not have: the tracker refuses it with an Error. */
function announceUnknown(port: number, passkey: string): Promise<void> {
  const hash = encodeURIComponent("a".repeat(20));
  const url = `http://127.0.0.1:${port}/announce?info_hash=${hash}&peer_id=${hash}&port=6881&passkey=${passkey}`;
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.resume();
      res.on("end", () => resolve());
    }).on("error", reject);
  });
}

async function stop(m: Master): Promise<void> {
  if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill("SIGTERM");
  await m.exited;
}

describe("a daemon's logs on a pipe", () => {
  const token = `tok-${randomBytes(16).toString("hex")}`;
  const passkey = `pk-${randomBytes(8).toString("hex")}`;
  const master = spawnMaster("json", token);
  after(() => stop(master));
  let records: LogRecord[] = [];
  let text = "";

  test("the master starts, refuses an announce and stops on SIGTERM", async () => {
    await announceUnknown(await httpPort(master), passkey);
    await waitFor(
      "the tracker's refusal to be logged",
      () => logRecords(master.stderr.join("")).some((r) => r.msg === "tracker refused a request"),
      LOADED,
    );
    await stop(master);
    text = master.stderr.join("");
    records = logRecords(text);
  });

  test("every line is one JSON record with time, level, component and msg", () => {
    const lines = text.split("\n").filter((l) => l !== "");
    assert.ok(lines.length >= 5, text);
    for (const line of lines) {
      const r = parseLogRecord(line);
      assert.ok(r, `not a record: ${line}`);
      assert.ok(!Number.isNaN(Date.parse(r.time)), line);
      assert.ok(["debug", "info", "warn", "error"].includes(r.level), line);
      assert.equal(r.component, "master", line);
    }
  });

  test("an error record holds the error and its stack in the same line", () => {
    const refused = records.find((r) => r.msg === "tracker refused a request");
    assert.ok(refused?.err, text);
    assert.equal(refused.err.type, "Error");
    assert.match(refused.err.message ?? "", /is not a release of this Yard master/);
    assert.match(refused.err.stack ?? "", /^Error: .*\n\s+at /);
  });

  test("the token never shows; the field that held it reads [Redacted]", () => {
    const starting = records.find((r) => r.msg === "starting");
    assert.equal((starting?.settings as { token?: string } | undefined)?.token, REDACTED, text);
    assert.ok(!text.includes(token), "the token in the master's stderr");
    assert.ok(!master.stdout.join("").includes(token), "the token in the master's stdout");
    assert.ok(!text.includes(passkey), "a passkey in the master's stderr");
  });

  test("the last record before the exit is written", () => {
    assert.equal(records.at(-1)?.msg, "stopped", text);
    assert.equal(records.at(-1)?.signal, "SIGTERM");
  });
});

/** Lines that look like pino-pretty's: a time, a level in capitals, the component in brackets. */
const PRETTY_STARTING = /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: \[master\] starting /m;
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g");

describe("a daemon's logs for people", () => {
  test("YARD_LOG_FORMAT=pretty gives readable lines, not JSON, secrets still hidden", async () => {
    const token = `tok-${randomBytes(16).toString("hex")}`;
    const master = spawnMaster("pretty", token, { YARD_LOG_FORMAT: "pretty" });
    try {
      await httpPort(master);
      await waitFor("the listening line", () => master.stderr.join("").includes("master listening"), LOADED);
    } finally {
      await stop(master);
    }
    const text = master.stderr.join("");
    assert.match(text, PRETTY_STARTING);
    assert.match(text, /\] INFO: \[master\] stopped /);
    assert.ok(!text.split("\n").some((l) => l.startsWith("{")), text);
    assert.ok(text.includes(REDACTED) && !text.includes(token), text);
  });

  test("on a terminal (a pseudo-terminal) the lines are pretty without being asked", async (t) => {
    const dataDir = join(root, "tty");
    const token = `tok-${randomBytes(16).toString("hex")}`;
    const command = [process.execPath, YARDCTL, "master", "--insecure", "--port", "0", "--http-port", "0"]
      .concat(["--data-dir", dataDir])
      .map((a) => `'${a}'`)
      .join(" ");
    // script(1) runs the master on a pseudo-terminal and copies what it writes to our pipe.
    const script = spawn("script", ["-qec", command, "/dev/null"], {
      env: { PATH: process.env.PATH ?? "", YARD_TOKEN: token, YARD_LOG_LEVEL: "info", TERM: "dumb" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const out: string[] = [];
    script.stdout!.on("data", (b: Buffer) => out.push(String(b)));
    script.stderr!.on("data", (b: Buffer) => out.push(String(b)));
    const exited = new Promise<void>((r) => script.once("exit", () => r()));
    // The master's own pid, from the discovery file it writes once it listens: script(1) is
    // not asked to pass signals on.
    let masterPid: number | undefined;
    t.after(async () => {
      if (masterPid !== undefined) {
        try {
          process.kill(masterPid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      if (script.exitCode === null && script.signalCode === null) script.kill("SIGKILL");
      await exited;
    });
    masterPid = await waitFor(
      "the master on the terminal to listen",
      () => {
        if (script.exitCode !== null) throw new Error(`script exited: ${out.join("")}`);
        return (JSON.parse(readFileSync(join(dataDir, "master", "master.json"), "utf8")) as { pid: number })
          .pid;
      },
      LOADED,
    );
    await waitFor("the listening line", () => out.join("").includes("master listening"), LOADED);
    process.kill(masterPid, "SIGTERM");
    await exited;
    masterPid = undefined;
    const text = out.join("").replace(ANSI, "").replace(/\r/g, "");
    assert.match(text, PRETTY_STARTING);
    assert.ok(!text.split("\n").some((l) => l.startsWith('{"level"')), text);
    assert.ok(!text.includes(token), text);
  });
});
