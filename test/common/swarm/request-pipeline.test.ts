// Request pipelines (common/swarm/request-pipeline.ts): block size by capability, depth by
// the bandwidth-delay product, a torrent-wide cap.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  negotiateBlockBytes,
  RequestPipeline,
  requestBudget,
  STANDARD_BLOCK_BYTES,
} from "../../../common/swarm/request-pipeline.js";

const KiB = 1024;
const MiB = 1024 * KiB;

describe("request pipeline", () => {
  test("block size: 16 KiB for a standard client, the smaller advertised size between Yard peers, at most a piece", () => {
    assert.equal(negotiateBlockBytes(MiB, undefined, MiB), STANDARD_BLOCK_BYTES);
    assert.equal(negotiateBlockBytes(undefined, MiB, MiB), STANDARD_BLOCK_BYTES);
    assert.equal(negotiateBlockBytes(4 * MiB, 512 * KiB, MiB), 512 * KiB);
    assert.equal(negotiateBlockBytes(4 * MiB, 4 * MiB, MiB), MiB);
    assert.equal(negotiateBlockBytes(64 * KiB, MiB, MiB), STANDARD_BLOCK_BYTES, "below 256 KiB: standard");
  });

  test("depth = ceil(rate × RTT / block) + 1", () => {
    // 12.5 MB/s × 40 ms = 500 kB = 30.5 blocks of 16 KiB → 31 + 1
    const p = new RequestPipeline({ blockBytes: 16 * KiB, initialRate: 12_500_000 });
    p.rttSample(40);
    assert.equal(p.depth(), 32);
    assert.equal(p.room(), 32);
    p.sent(30);
    assert.equal(p.room(), 2);
  });

  test("depth follows the measured rate, and the smallest RTT seen", () => {
    const p = new RequestPipeline({ blockBytes: 16 * KiB });
    p.rttSample(100);
    p.rttSample(20);
    p.rttSample(80);
    assert.equal(p.depth(), 2, "no rate measured yet: the minimum");
    p.sent(3);
    p.answered(16 * KiB, 0);
    p.answered(819_200, 500);
    p.answered(819_200, 1000);
    // 1,638,400 B in 1 s, 20 ms RTT → 32,768 B → 2 blocks + 1
    assert.equal(Math.round(p.bytesPerSecond()), 1_638_400);
    assert.equal(p.depth(), 3);
  });

  test("large blocks: one in flight is the minimum", () => {
    assert.equal(new RequestPipeline({ blockBytes: MiB }).depth(), 1);
    assert.equal(new RequestPipeline({ blockBytes: 16 * KiB }).depth(), 2);
  });

  test("the timeout covers the queue at the measured rate plus two RTTs", () => {
    const p = new RequestPipeline({ blockBytes: MiB, initialRate: MiB, minTimeoutMs: 1000 });
    p.rttSample(50);
    p.sent(4);
    assert.equal(p.timeoutMs(), 4100);
    p.dropped(4);
    assert.equal(p.timeoutMs(), 1000);
  });

  test("the torrent-wide budget is what the download link moves in the queue time", () => {
    // 12.5 MB/s for 500 ms = 6.25 MB = 6 whole 1 MiB pieces, rounded up
    assert.equal(requestBudget(12_500_000, MiB), 6);
    assert.equal(requestBudget(1_000_000, MiB), 4, "never below the minimum");
  });
});
