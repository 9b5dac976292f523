import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StoredFetch } from "../../../master/store/registry-store.js";
import { type ProgressReport, StagingBook, stagingVerdict } from "../../../master/releases/staging.js";

const RELEASES: Record<string, { sha256: string; size: number }> = {
  "web@1": { sha256: "a".repeat(64), size: 100 },
  "web@2": { sha256: "b".repeat(64), size: 200 },
};

function book(initial: StoredFetch[] = []) {
  const persisted: StoredFetch[] = [];
  const b = new StagingBook(
    { persist: (f) => persisted.push(f), lookup: (r) => RELEASES[r], now: () => 1000 },
    initial,
  );
  return { b, persisted };
}

function report(release: string, state: string, extra: Partial<ProgressReport> = {}): ProgressReport {
  return {
    release,
    sha256: RELEASES[release]!.sha256,
    state,
    downloaded: 0,
    uploaded: 0,
    size: RELEASES[release]!.size,
    downloadRate: 0,
    uploadRate: 0,
    error: "",
    ...extra,
  };
}

describe("staging book", () => {
  test("stage asks for fetches from targets that neither hold nor fetch the release", () => {
    const { b } = book();
    b.progress("a1", report("web@1", "DONE"));
    b.progress("a2", report("web@1", "FETCHING", { downloaded: 10 }));
    assert.deepEqual(b.stage("web@1", ["a1", "a2", "a3"]), ["a3"]);
    assert.equal(b.get("web@1", "a3")?.state, "PENDING");
    assert.equal(b.get("web@1", "a1")?.staged, true);
    // Idempotent: a second stage sends nothing new (a3 has its command; if it is away, it
    // gets it again when it registers).
    assert.deepEqual(b.stage("web@1", ["a1", "a2", "a3"]), []);
  });

  test("a failed fetch is retried by the next stage", () => {
    const { b } = book();
    b.stage("web@1", ["a1"]);
    b.progress("a1", report("web@1", "FAILED", { error: "disk full" }));
    assert.equal(b.get("web@1", "a1")?.error, "disk full");
    assert.deepEqual(b.stage("web@1", ["a1"]), ["a1"]);
    assert.equal(b.get("web@1", "a1")?.error, "");
  });

  test("reports for unknown releases or other bytes are ignored", () => {
    const { b } = book();
    assert.equal(b.progress("a1", { ...report("web@1", "DONE"), release: "gone@1" }), false);
    assert.equal(b.progress("a1", { ...report("web@1", "DONE"), sha256: "c".repeat(64) }), false);
    assert.equal(b.progress("a1", report("web@1", "BOGUS")), false);
    assert.deepEqual(b.heldBy("a1"), []);
  });

  test("byte progress stays in memory; state changes are persisted", () => {
    const { b, persisted } = book();
    b.progress("a1", report("web@1", "FETCHING", { downloaded: 10 }));
    b.progress("a1", report("web@1", "FETCHING", { downloaded: 50 }));
    b.progress("a1", report("web@1", "DONE"));
    assert.deepEqual(
      persisted.map((p) => p.state),
      ["FETCHING", "DONE"],
    );
    assert.equal(b.get("web@1", "a1")?.downloaded, 100);
    assert.deepEqual(b.heldBy("a1"), ["web@1"]);
  });

  test("heldBy, which offers carry, follows completed fetches and evictions", () => {
    const { b } = book();
    b.progress("a1", report("web@2", "DONE")); // fetched for a launch, not staged
    b.progress("a1", report("web@1", "FETCHING", { downloaded: 10 }));
    assert.deepEqual(b.heldBy("a1"), ["web@2"], "a fetch under way is not held");
    b.progress("a1", report("web@1", "DONE"));
    assert.deepEqual(b.heldBy("a1"), ["web@1", "web@2"]);
    b.progress("a1", report("web@2", "EVICTED"));
    assert.deepEqual(b.heldBy("a1"), ["web@1"]);
    assert.deepEqual(b.heldBy("a2"), []);
  });

  test("a registration is the truth about an agent's cache", () => {
    const { b } = book();
    b.stage("web@1", ["a1"]);
    b.progress("a1", report("web@2", "DONE")); // held, not staged
    // It comes back holding web@1 only: web@1 is DONE, web@2 was evicted, nothing to fetch.
    assert.deepEqual(b.registered("a1", [{ release: "web@1", sha256: RELEASES["web@1"]!.sha256 }]), []);
    assert.equal(b.get("web@1", "a1")?.state, "DONE");
    assert.equal(b.get("web@2", "a1")?.state, "EVICTED");
    // It comes back with an empty cache: the staged release is owed again.
    assert.deepEqual(b.registered("a1", []), ["web@1"]);
    assert.equal(b.get("web@1", "a1")?.state, "PENDING");
    // An artifact with other bytes than the release's does not count.
    assert.deepEqual(b.registered("a1", [{ release: "web@1", sha256: "f".repeat(64) }]), ["web@1"]);
  });

  test("after a restart, fetches that were in flight are owed again", () => {
    const stored = (state: string): StoredFetch => ({
      release: "web@1",
      agentId: `agent-${state}`,
      state,
      staged: true,
      downloaded: 5,
      size: 100,
      error: "",
      updatedAt: 1,
    });
    const { b } = book([stored("FETCHING"), stored("DONE"), { ...stored("DONE"), release: "removed@1" }]);
    assert.equal(b.get("web@1", "agent-FETCHING")?.state, "PENDING");
    assert.equal(b.get("web@1", "agent-DONE")?.state, "DONE");
    assert.equal(b.get("removed@1", "agent-DONE"), undefined);
    assert.deepEqual(b.registered("agent-FETCHING", []), ["web@1"]);
  });

  test("listeners hear about every change of a release", () => {
    const { b } = book();
    const heard: string[] = [];
    const stop = b.subscribe((r) => heard.push(r));
    b.stage("web@1", ["a1"]);
    b.progress("a1", report("web@1", "FETCHING"));
    b.removeRelease("web@1");
    stop();
    b.stage("web@2", ["a1"]);
    assert.deepEqual(heard, ["web@1", "web@1", "web@1"]);
  });

  test("a corrupt master copy fails every unfinished fetch at once; agents' reports do not undo it", () => {
    const corrupt = { ...RELEASES["web@1"]!, corrupt: true };
    const persisted: StoredFetch[] = [];
    let bad = false;
    const b = new StagingBook({
      persist: (f) => persisted.push(f),
      lookup: (r) => (r === "web@1" && bad ? corrupt : RELEASES[r]),
      now: () => 1000,
    });
    b.progress("done", report("web@1", "DONE"));
    b.progress("fetching", report("web@1", "FETCHING", { downloaded: 10 }));
    b.stage("web@1", ["pending"]);
    bad = true;
    assert.deepEqual(b.fail("web@1", "release web@1 is corrupt on the master: x"), ["fetching", "pending"]);
    assert.deepEqual(
      b.forRelease("web@1").map((r) => [r.agentId, r.state, r.error]),
      [
        ["done", "DONE", ""],
        ["fetching", "FAILED", "release web@1 is corrupt on the master: x"],
        ["pending", "FAILED", "release web@1 is corrupt on the master: x"],
      ],
    );
    assert.equal(persisted.at(-1)?.state, "FAILED");
    assert.equal(b.progress("fetching", report("web@1", "FETCHING", { downloaded: 20 })), false);
    assert.equal(b.progress("pending", report("web@1", "EVICTED")), false);
    assert.deepEqual(b.registered("pending", []), [], "a corrupt release is not fetched again");
    assert.equal(b.get("pending", "web@1"), undefined);
    assert.equal(b.get("web@1", "pending")?.state, "FAILED");
    assert.equal(
      b.progress("fetching", report("web@1", "DONE")),
      true,
      "a copy verified by the agent counts",
    );
  });
});

describe("staging verdict", () => {
  const cases: [string, string[], { complete: boolean; failed: boolean }][] = [
    ["every target holds it", ["DONE", "DONE"], { complete: true, failed: false }],
    ["one still fetching", ["DONE", "FETCHING"], { complete: false, failed: false }],
    ["one failed", ["DONE", "FAILED"], { complete: false, failed: true }],
    ["an unreachable agent is skipped", ["DONE", "UNREACHABLE"], { complete: true, failed: false }],
    ["a gone agent is skipped", ["LOST", "DONE"], { complete: true, failed: false }],
    ["skipped but the rest still fetching", ["UNREACHABLE", "FETCHING"], { complete: false, failed: false }],
    ["every target away", ["UNREACHABLE", "LOST"], { complete: false, failed: true }],
    ["no targets", [], { complete: true, failed: false }],
  ];
  for (const [name, states, want] of cases) {
    test(name, () => {
      assert.deepEqual(stagingVerdict(states.map((state) => ({ state }))), want);
    });
  }
});
