import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { LOG_CHUNK_BYTES, LogStreamer } from "../../agent/log-streamer.js";
import { silentLogger } from "../../common/logger.js";
import type { AgentMessage } from "../../proto/gen/yard/v1/agent.js";
import { waitFor } from "../cluster/harness.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "yard-log-streamer-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A streamer over one file whose stream to the master never drains after the first chunk. */
function stuckStreamer(file: string) {
  const sent: AgentMessage[] = [];
  let waits = 0;
  const streamer = new LogStreamer({
    logger: silentLogger,
    send: (m) => {
      sent.push(m);
      return true;
    },
    whenWritable: () => {
      waits++;
      return new Promise<void>(() => undefined);
    },
    resolve: () => ({ path: file, done: () => false }),
    pollMs: 10,
  });
  return { streamer, sent, waits: () => waits };
}

describe("LogStreamer", () => {
  test("reads no further than the stream to the master takes: one chunk, then it waits", async () => {
    const file = path.join(dir, "a.log");
    fs.writeFileSync(file, Buffer.alloc(LOG_CHUNK_BYTES * 4));
    const s = stuckStreamer(file);
    s.streamer.read({
      requestId: "r1",
      taskId: "t",
      stream: "stdout",
      follow: true,
      tailBytes: 0,
      offset: 0,
      frameworkId: "",
    });
    await waitFor("the read to wait for the stream", () => s.waits() === 1);
    assert.equal(s.sent.length, 1);
    // The stream it was asked on ended: the read ends (eof) instead of waiting forever.
    s.streamer.cancelAll();
    await waitFor("the read to end", () => s.sent.some((m) => m.logData?.eof));
    assert.equal(s.sent.filter((m) => (m.logData?.data.length ?? 0) > 0).length, 1);
    await s.streamer.stopAll();
  });

  test("stopAll ends a read that is waiting for the stream, or paused", async () => {
    const file = path.join(dir, "b.log");
    fs.writeFileSync(file, Buffer.alloc(LOG_CHUNK_BYTES * 2));
    const s = stuckStreamer(file);
    s.streamer.read({
      requestId: "r2",
      taskId: "t",
      stream: "stdout",
      follow: true,
      tailBytes: 0,
      offset: 0,
      frameworkId: "",
    });
    await waitFor("the read to wait for the stream", () => s.waits() === 1);
    s.streamer.flow("r2", true);
    await s.streamer.stopAll();
    assert.ok(s.sent.some((m) => m.logData?.eof));
  });
});
