// The framework leadership helper against a real etcd member, in-process: two instances of
// one framework, one active at a time; a standby names the active one; a resign hands over
// with the state written so far; a term whose fenced write is refused ends at once.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Etcd3 } from "etcd3";
import { silentLogger } from "../../common/logger.js";
import { type ActiveTerm, FrameworkLeader, StateLostError } from "../../framework-sdk/index.js";
import { waitFor } from "../cluster/harness.js";
import { type EtcdMember, startEtcd } from "../etcd-fixture.js";

let etcd: EtcdMember;
let client: Etcd3;
before(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
});
after(async () => {
  client?.close();
  await etcd?.destroy();
});

/** A FrameworkLeader whose terms are recorded: when each started, and when it was stopped. */
function instance(name: string, address: string) {
  const leader = new FrameworkLeader({
    client,
    prefix: "/t",
    name,
    address,
    ttlSeconds: 2,
    logger: silentLogger,
  });
  const terms: Array<{ term: ActiveTerm; stopped: boolean; activeAtStop?: boolean }> = [];
  leader.start(async (term) => {
    const rec: { term: ActiveTerm; stopped: boolean; activeAtStop?: boolean } = { term, stopped: false };
    terms.push(rec);
    return {
      stop: async () => {
        rec.activeAtStop = leader.isActive;
        rec.stopped = true;
      },
    };
  });
  return { leader, terms, address };
}

describe("FrameworkLeader on a real etcd", { timeout: 60_000 }, () => {
  test("one of two instances leads; the standby names it; a resign hands over with the state", async () => {
    const a = instance("fw1", "10.0.0.1:1");
    const b = instance("fw1", "10.0.0.2:2");
    const first = await waitFor("one active instance", () => [a, b].find((i) => i.leader.isActive));
    const second = first === a ? b : a;
    assert.equal(second.leader.isActive, false);
    await waitFor(
      "the standby to name the active instance",
      () => second.leader.leaderAddress() === first.address,
    );
    const t1 = first.terms[0]!;
    t1.term.state.put("meta/framework_id", "fw-1");
    await t1.term.state.durable();

    await first.leader.stop();
    assert.equal(t1.stopped, true);
    assert.equal(t1.activeAtStop, false, "the API gate closed before the run was stopped");
    const t2 = await waitFor("the standby to lead", () => second.terms[0]);
    assert.equal(second.leader.isActive, true);
    assert.equal(t2.term.state.get("meta/framework_id"), "fw-1", "the new term sees the state");
    assert.equal(t2.term.leadership.term, t1.term.leadership.term + 1);
    await second.leader.stop();
  });

  test("a term whose fenced write is refused ends at once, and the instance campaigns again", async () => {
    const a = instance("fw2", "10.0.0.1:1");
    const t1 = await waitFor("the first term", () => a.terms[0]);
    // Another leadership took the key over: the fence no longer matches.
    await client.delete().key(t1.term.leadership.key);
    await client.put(t1.term.leadership.key).value("someone else");
    t1.term.state.put("k", "v");
    await assert.rejects(t1.term.state.durable(), StateLostError);
    await waitFor("the term to be stopped", () => t1.stopped);
    assert.equal(t1.activeAtStop, false);
    assert.equal(
      await client.get("/t/frameworks/fw2/state/k").string(),
      null,
      "nothing written after the loss",
    );
    await client.delete().key(t1.term.leadership.key);
    const t2 = await waitFor("a new term", () => a.terms[1], 20_000);
    assert.ok(t2.term.leadership.term > t1.term.leadership.term);
    await a.leader.stop();
  });
});
