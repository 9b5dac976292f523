// yardctl events --since INDEX replays from an event index, as Nomad's event stream does, and
// fails with a clear error once the master no longer keeps that index (--events-kept).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TestCluster } from "../cluster/harness.js";

const KEPT = 10;
const cluster = new TestCluster();
let agentId: string;

before(async () => {
  await cluster.startMaster(["--events-kept", String(KEPT)]);
  await cluster.startAgent({ cpus: 1, mem: 256 });
  agentId = (await cluster.waitForAgents(1))[0]!.info!.id;
  // Each drain and undrain is one event: enough of them to push the first events out of the
  // window (trimmed in slices of a tenth past the capacity).
  for (let i = 0; i < KEPT; i++) {
    for (const verb of ["drain", "undrain"]) {
      const r = await cluster.yardctl([verb, agentId]);
      assert.equal(r.code, 0, r.stderr);
    }
  }
});

after(() => cluster.stop());

/** The #N of each line of `yardctl events`. */
function indexes(stdout: string): number[] {
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => Number(/ #(\d+) /.exec(line)?.[1]));
}

describe("yardctl events --since", () => {
  test("replays from the index given, in order, with none missing, to the last event", async () => {
    const all = await cluster.yardctl(["events"]);
    assert.equal(all.code, 0, all.stderr);
    const kept = indexes(all.stdout);
    assert.ok(kept.length >= KEPT, `the master keeps ${KEPT} events at least: ${all.stdout}`);
    const from = kept[kept.length - 4]!;

    const r = await cluster.yardctl(["events", "--since", String(from)]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(indexes(r.stdout), kept.slice(-4));
    assert.match(r.stdout, /AGENT_(DRAINING|UNDRAINED)/);
  });

  test("an index the master no longer keeps: exit 1 and a line naming the oldest kept", async () => {
    const all = await cluster.yardctl(["events"]);
    const oldest = indexes(all.stdout)[0]!;
    assert.ok(oldest > 2, `the window moved on: the oldest kept is ${oldest}`);
    const r = await cluster.yardctl(["events", "--since", "1"]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(
        `^yardctl: events after 0 are no longer kept: the oldest kept is ${oldest} \\(the master keeps the last ${KEPT} events\\)\\n$`,
      ),
    );
    // The oldest kept index itself is still there.
    const ok = await cluster.yardctl(["events", "--since", String(oldest)]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(indexes(ok.stdout)[0], oldest);
  });
});
