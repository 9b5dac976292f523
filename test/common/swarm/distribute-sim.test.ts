// The distribution model (bench/distribute-sim) runs the swarm core end to end: every host
// completes, never faster than the links allow, and a seed replays the same run.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { simulate } from "../../../bench/distribute-sim/swarm-sim.js";

const MiB = 1024 * 1024;
const cfg = {
  hosts: 40,
  sizeBytes: 8 * MiB,
  pieceLength: MiB,
  linkBytesPerSecond: 12_500_000,
  seedBytesPerSecond: 12_500_000,
  latencyMs: 0.25,
  blockBytes: MiB,
  seed: 7,
  peersPerAnnounce: 10,
  maxPeers: 15,
};

describe("distribution model", () => {
  test("every host completes, no sooner than the link minimum, from bytes the seed and the hosts sent", () => {
    const r = simulate(cfg);
    const minimumMs = (cfg.sizeBytes / cfg.linkBytesPerSecond) * 1000;
    assert.equal(r.doneAt.length, 40);
    for (const t of r.doneAt) assert.ok(t >= minimumMs, `a host done at ${t} ms, before ${minimumMs} ms`);
    assert.ok(r.seedUploaded >= cfg.sizeBytes, "the seed sent every piece at least once");
    // every host's bytes came from the seed or another host: nothing is created
    assert.ok(r.seedUploaded + r.hostsUploaded >= cfg.hosts * cfg.sizeBytes);
  });

  test("the same seed replays the same run; another seed gives another", () => {
    assert.deepEqual(simulate(cfg).doneAt, simulate(cfg).doneAt);
    assert.notDeepEqual(simulate({ ...cfg, seed: 8 }).doneAt, simulate(cfg).doneAt);
  });

  test("a shared CPU that cannot keep up bounds the run by its work, and a fast one does not", () => {
    const free = simulate(cfg);
    const last = (r: { doneAt: number[] }) => Math.max(...r.doneAt);
    // 40 hosts × 8 MiB at 20 ms per MiB on 2 cores: 3.2 s of work, over 4× the link minimum.
    const slow = simulate({ ...cfg, sharedCpu: { cores: 2, secondsPerByte: 0.02 / MiB } });
    const workMs = (cfg.hosts * cfg.sizeBytes * 0.02 * 1000) / MiB / 2;
    assert.ok(last(slow) >= workMs, `done at ${last(slow)} ms, before the CPU's ${workMs} ms of work`);
    assert.ok(last(slow) > 2 * last(free));
    const fast = simulate({ ...cfg, sharedCpu: { cores: 2, secondsPerByte: 0.0001 / MiB } });
    // (Any change of timing takes the swarm down another path, so "fast" is not "free" exactly.)
    assert.ok(last(fast) < 1.5 * last(free), `${last(fast)} ms against ${last(free)} ms with no CPU cost`);
    assert.ok(last(fast) < workMs);
  });

  test("without super-seeding the model still completes (the seed serves its bitfield)", () => {
    assert.equal(simulate({ ...cfg, superSeed: false }).doneAt.length, 40);
  });
});
