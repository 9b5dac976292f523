// The tools that install a release (tar, docker load) run with a time limit. Real processes:
// stand-ins for `docker` and `tar` on PATH that hang (a child of theirs too), as an engine that
// stops answering mid-load would; past the limit the whole group is killed and the install
// fails naming the tool and the limit.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { dockerLoad, InstallError, installIntoSandbox } from "../../../agent/fetcher/artifact-install.js";
import { waitFor } from "../../cluster/harness.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-install-"));
const bin = path.join(dir, "bin");
fs.mkdirSync(bin);
const savedPath = process.env.PATH;
after(() => {
  process.env.PATH = savedPath;
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".pids"))) {
    for (const pid of fs.readFileSync(path.join(dir, f), "utf8").split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // gone, as it should be
      }
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A `name` on PATH that records its pid and its child's, then waits on the child forever. */
function hangingTool(name: string): string {
  const pids = path.join(dir, `${name}.pids`);
  fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nsleep 600 &\necho $$ $! > ${pids}\nwait\n`, {
    mode: 0o755,
  });
  process.env.PATH = `${bin}:${savedPath}`;
  return pids;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie not yet reaped counts as gone.
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

async function expectKilled(pidsFile: string): Promise<void> {
  const pids = fs.readFileSync(pidsFile, "utf8").trim().split(/\s+/).map(Number);
  assert.equal(pids.length, 2);
  await waitFor("the tool and its child to be gone", () => pids.every((p) => !alive(p)), 10_000);
}

describe("install time limits", () => {
  test("a docker load that hangs is killed, with its children, and fails naming the limit", async () => {
    const pids = hangingTool("docker");
    const file = path.join(dir, "image.tar");
    fs.writeFileSync(file, "not an image");
    const started = Date.now();
    await assert.rejects(
      dockerLoad(file, "unix:///nowhere.sock", 500),
      (err: unknown) =>
        err instanceof InstallError && /^docker load did not finish within 500 ms; killed$/.test(err.message),
    );
    assert.ok(Date.now() - started < 5_000);
    await expectKilled(pids);
  });

  test("unpacking a tar that hangs is killed and fails naming the limit", async () => {
    const pids = hangingTool("tar");
    const file = path.join(dir, "site.tar");
    fs.writeFileSync(file, "");
    await assert.rejects(
      installIntoSandbox("tar", file, path.join(dir, "sandbox"), 300),
      (err: unknown) =>
        err instanceof InstallError && /^tar -x did not finish within 300 ms; killed$/.test(err.message),
    );
    await expectKilled(pids);
  });
});
