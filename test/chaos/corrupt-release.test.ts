// Defect: a release blob corrupted on the master's disk went unnoticed ("seeded: yes"), and
// agents stalled for minutes before `no data for 120 s (peers: 0)`. Now the master checks
// its blobs at rest on a schedule: a corrupt one says so in `release status` and `release
// ls`, is no longer seeded, staging it fails at once naming the cause, a fetch already
// running fails at once, and pushing the same bytes again repairs it.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { TestCluster, waitFor } from "../cluster/harness.js";
import { masterDataDir } from "./identity-helpers.js";

const SIZE = 3 * 1024 * 1024;
// The slow agent's fetch takes ~24 s, so it is still under way when the corruption is found.
const SLOW_RATE = "128K";

const cluster = new TestCluster(["--release-verify-interval", "1", "--seed-port", "0"]);
after(() => cluster.stop());

interface StatusJson {
  release?: { corrupt?: boolean; corruptMessage?: string; verifiedAt?: number };
  seeded?: boolean;
  agents?: { agentId: string; state: string; downloaded?: string; error?: string }[];
}

/** `release status -o json` (proto3 JSON: false and 0 are left out). */
async function status(release: string): Promise<StatusJson> {
  const r = await cluster.yardctl(["release", "status", release, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("a blob corrupted at rest is found, fails staging at once, and a push of the same bytes repairs it", async () => {
  const file = join(cluster.root, "app.bin");
  const bytes = randomBytes(SIZE);
  writeFileSync(file, bytes);
  const sha = createHash("sha256").update(bytes).digest("hex");
  await cluster.startMaster();
  await cluster.startAgent({ extraArgs: ["--peer-host", "127.0.0.1", "--download-rate", SLOW_RATE] });
  await cluster.startAgent({ extraArgs: ["--peer-host", "127.0.0.1"] });
  const agents = await cluster.waitForAgents(2);
  const slow = agents.find((a) => a.info?.hostname === "host-0")!.info!.id;
  const fast = agents.find((a) => a.info?.hostname === "host-1")!.info!.id;

  const push = await cluster.yardctl(["release", "push", "app@1", file]);
  assert.equal(push.code, 0, push.stderr);
  await waitFor("the release to be verified and seeded", async () => {
    const s = await status("app@1");
    return s.seeded && (s.release?.verifiedAt ?? 0) > 0 && !s.release?.corrupt;
  });

  // A fetch under way on the slow agent when the blob goes bad.
  const watching = cluster.yardctl(["release", "stage", "app@1", "--agent", slow, "--watch"], 60_000);
  await waitFor("the slow agent to be fetching", async () => {
    const a = (await status("app@1")).agents?.find((x) => x.agentId === slow);
    return a?.state === "FETCHING" && Number(a.downloaded ?? 0) > 0;
  });
  const blob = join(masterDataDir(cluster), "releases", "blobs", sha);
  const fd = openSync(blob, "r+");
  writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, SIZE / 2);
  closeSync(fd);

  const staged = await watching;
  assert.equal(staged.code, 1, `the running staging fails: ${staged.stdout}${staged.stderr}`);
  assert.match(staged.stderr, new RegExp(`release app@1 is corrupt on the master: its blob .*${sha}`));
  assert.doesNotMatch(staged.stderr, /no data for/);

  const s = await status("app@1");
  assert.equal(s.release?.corrupt, true);
  assert.match(s.release?.corruptMessage ?? "", new RegExp(`has sha256 [0-9a-f]{64}, not ${sha}`));
  assert.equal(s.seeded ?? false, false, "a corrupt release is not seeded");
  const ls = await cluster.yardctl(["release", "ls"]);
  assert.match(ls.stdout, /app@1 .*CORRUPT/);
  const shown = await cluster.yardctl(["release", "status", "app@1"]);
  assert.match(shown.stdout, /at rest: +CORRUPT: its blob .* has sha256/);

  // Staging it again fails at once, naming the cause.
  const again = await cluster.yardctl(["release", "stage", "app@1", "--agent", fast]);
  assert.equal(again.code, 1, again.stdout);
  assert.match(
    again.stderr,
    /release app@1 is corrupt on the master \(its blob .* has sha256 .*\); push it again/,
  );

  // The same bytes pushed again repair it; the fast agent then fetches and verifies it.
  const repair = await cluster.yardctl(["release", "push", "app@1", file]);
  assert.equal(repair.code, 0, repair.stderr);
  assert.deepEqual(readFileSync(blob), bytes);
  const healed = await status("app@1");
  assert.equal(healed.release?.corrupt ?? false, false);
  await waitFor("the repaired release to be seeded", async () => (await status("app@1")).seeded);
  const stage = await cluster.yardctl(["release", "stage", "app@1", "--agent", fast, "--watch"], 60_000);
  assert.equal(stage.code, 0, `${stage.stdout}${stage.stderr}`);
  const done = (await status("app@1")).agents?.find((x) => x.agentId === fast);
  assert.equal(done?.state, "DONE");
});
