// The leader follower: where a client dials next after each kind of answer.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import { LeaderFollower } from "../../common/leader-follower.js";
import { notLeaderError } from "../../common/leader-redirect.js";

/** A dead master's answer. */
const DOWN = { code: GrpcStatus.UNAVAILABLE, details: "No connection established", metadata: new Metadata() };
/** A standby's answer that names the leader, as it arrives from a call. */
function standby(leader?: string): ServiceError {
  return notLeaderError(leader) as ServiceError;
}

describe("LeaderFollower", () => {
  test("starts at the first master of the list", () => {
    assert.equal(new LeaderFollower(["a:1", "b:1", "c:1"]).address(), "a:1");
  });

  test("a redirect moves to the named leader at once, without ending a round", () => {
    const f = new LeaderFollower(["a:1", "b:1", "c:1"]);
    assert.deepEqual(f.failed(standby("c:1")), {
      address: "c:1",
      redirected: true,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.equal(f.address(), "c:1");
  });

  test("a leader the operator did not list is added and dialled", () => {
    const f = new LeaderFollower(["a:1", "b:1"]);
    assert.equal(f.redirected(standby("leader.example:7070")), "leader.example:7070");
    assert.equal(f.address(), "leader.example:7070");
    assert.deepEqual(f.masters(), ["a:1", "b:1", "leader.example:7070"]);
  });

  test("redirected() leaves everything as it was for an answer without a leader", () => {
    const f = new LeaderFollower(["a:1", "b:1"]);
    assert.equal(f.redirected(standby()), undefined);
    assert.equal(f.redirected(DOWN), undefined);
    assert.equal(f.redirected(new Error("boom")), undefined);
    assert.equal(f.address(), "a:1");
  });

  test("a dead master or a standby without a leader moves to the next; the round fails after all", () => {
    const f = new LeaderFollower(["a:1", "b:1", "c:1"]);
    assert.deepEqual(f.failed(DOWN), {
      address: "b:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(standby()), {
      address: "c:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    // b answered as a standby: the masters are electing, so the caller polls instead of backing off.
    assert.deepEqual(f.failed(DOWN), {
      address: "a:1",
      redirected: false,
      roundFailed: true,
      electionUnderWay: true,
    });
    // A new round: each master once more before the next backoff.
    assert.deepEqual(f.failed(DOWN), {
      address: "b:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
  });

  test("one master: every failure is a failed round (backoff as before HA)", () => {
    const f = new LeaderFollower(["a:1"]);
    assert.deepEqual(f.failed(DOWN), {
      address: "a:1",
      redirected: false,
      roundFailed: true,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(DOWN), {
      address: "a:1",
      redirected: false,
      roundFailed: true,
      electionUnderWay: false,
    });
  });

  test("a success starts a new round", () => {
    const f = new LeaderFollower(["a:1", "b:1"]);
    f.failed(DOWN); // a failed, at b
    f.succeeded(); // b leads, then dies
    assert.deepEqual(f.failed(DOWN), {
      address: "a:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(DOWN), {
      address: "b:1",
      redirected: false,
      roundFailed: true,
      electionUnderWay: false,
    });
  });

  test("stale hints to a dead leader do not loop: the round fails and starts at the named leader", () => {
    // a led and died; b and c have not seen its lease expire and still name it.
    const f = new LeaderFollower(["a:1", "b:1", "c:1"]);
    assert.deepEqual(f.failed(DOWN), {
      address: "b:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(standby("a:1")), {
      address: "c:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(standby("a:1")), {
      address: "a:1",
      redirected: false,
      roundFailed: true,
      electionUnderWay: true,
    });
  });

  test("two standbys naming each other cannot skip the third master", () => {
    const f = new LeaderFollower(["a:1", "b:1", "c:1"]);
    assert.equal(f.failed(standby("b:1")).address, "b:1");
    // b names a, which failed in this round: not followed, c is next.
    assert.deepEqual(f.failed(standby("a:1")), {
      address: "c:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
  });

  test("a master that names itself as the leader counts as failed", () => {
    const f = new LeaderFollower(["a:1", "b:1"]);
    assert.deepEqual(f.failed(standby("a:1")), {
      address: "b:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
  });

  test("only dead masters: no election under way, the caller backs off; a success forgets the standbys", () => {
    const f = new LeaderFollower(["a:1", "b:1"]);
    f.failed(standby());
    f.succeeded();
    f.failed(DOWN);
    assert.equal(f.failed(DOWN).electionUnderWay, false);
  });

  test("a late failure of a master already left does not move the follower off the leader", () => {
    // The stream followed a redirect to c; an Acknowledge dialled to the dead a before that
    // fails only now.
    const f = new LeaderFollower(["a:1", "b:1", "c:1"]);
    f.failed(DOWN, "a:1");
    f.failed(standby("c:1"), "b:1");
    assert.equal(f.address(), "c:1");
    assert.deepEqual(f.failed(DOWN, "a:1"), {
      address: "c:1",
      redirected: false,
      roundFailed: false,
      electionUnderWay: false,
    });
    assert.deepEqual(f.failed(standby("a:1"), "b:1").address, "c:1");
    // A late success elsewhere does not end the round either: c failing now moves on.
    f.succeeded("a:1");
    assert.equal(f.failed(DOWN, "c:1").roundFailed, true);
  });

  test("an empty list is a programming error", () => {
    assert.throws(() => new LeaderFollower([]));
  });
});
