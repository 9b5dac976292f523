// The lease-based election against a real etcd member: one leader among three, hand-over by
// resign, by a revoked lease and by a frozen process, terms that count up, and a deposed
// leader's fenced write refused by etcd.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { Etcd3 } from "etcd3";
import {
  Campaign,
  CampaignResignedError,
  electionStatus,
  type Leadership,
} from "../../../common/etcd/election.js";
import { silentLogger } from "../../../common/logger.js";
import { type EtcdMember, startEtcd } from "../../etcd-fixture.js";

const here = dirname(fileURLToPath(import.meta.url));
let prefixes = 0;
const freshPrefix = () => `/test-election-${process.pid}-${++prefixes}`;

/** Which of the promises settles first, by index (the others keep running). */
function firstOf<T>(ps: Promise<T>[]): Promise<{ index: number; value: T }> {
  return Promise.race(ps.map((p, index) => p.then((value) => ({ index, value }))));
}

/** A candidate in a child process; events are its JSON lines. */
class ChildCandidate {
  readonly child: ChildProcess;
  readonly #events: Array<Record<string, unknown>> = [];
  readonly #waiters: Array<() => void> = [];

  constructor(endpoint: string, prefix: string, ttl: number, value: string) {
    this.child = spawn(
      process.execPath,
      [join(here, "campaign-child.js"), endpoint, prefix, String(ttl), value],
      {
        stdio: ["pipe", "pipe", "inherit"],
      },
    );
    let buf = "";
    this.child.stdout!.on("data", (b: Buffer) => {
      buf += b.toString();
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        this.#events.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
        for (const w of this.#waiters.splice(0)) w();
      }
    });
  }

  async next(event: string): Promise<Record<string, unknown>> {
    for (;;) {
      const at = this.#events.findIndex((e) => e.event === event);
      if (at >= 0) return this.#events.splice(at, 1)[0]!;
      if (this.child.exitCode !== null) throw new Error(`child exited before ${event}`);
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGCONT");
    this.child.kill("SIGKILL");
    await exited;
  }
}

describe("etcd election", () => {
  let etcd: EtcdMember;
  const clients: Etcd3[] = [];
  const campaigns: Campaign[] = [];
  const children: ChildCandidate[] = [];
  const client = () => {
    const c = new Etcd3({ hosts: etcd.endpoint });
    clients.push(c);
    return c;
  };
  const candidate = (prefix: string, value: string, ttlSeconds = 3) => {
    const c = new Campaign({ client: client(), prefix, value, ttlSeconds, logger: silentLogger });
    campaigns.push(c);
    return c;
  };

  before(async () => {
    etcd = await startEtcd();
  });
  after(async () => {
    for (const c of children) await c.kill();
    for (const c of campaigns) await c.resign();
    for (const c of clients) c.close();
    await etcd.destroy();
  });

  test("one leader among three; each resign hands over to the next in line, term + 1", async () => {
    const prefix = freshPrefix();
    const cs = ["a", "b", "c"].map((v) => candidate(prefix, v));
    const wins = cs.map((c) => c.won());
    const seen: Array<string | undefined> = [];
    const stop = cs[0]!.observe((v) => seen.push(v));

    const first = await firstOf(wins);
    assert.equal(first.value.term, 1);
    assert.equal(await cs[0]!.leader(), ["a", "b", "c"][first.index]);
    const status = await electionStatus(client(), prefix);
    assert.equal(status.leader, ["a", "b", "c"][first.index]);
    assert.equal(status.term, 1);

    // The two others stand (their keys are in etcd) and still wait: the second win below
    // comes only after the resign, and the third only after the second resigns.
    const rest = [0, 1, 2].filter((i) => i !== first.index);
    await cs[first.index]!.resign();
    assert.ok((await first.value.lost) instanceof CampaignResignedError);
    assert.equal(first.value.signal.aborted, true);
    assert.equal(first.value.held(), false);
    const second = await firstOf(rest.map((i) => wins[i]!));
    const secondIndex = rest[second.index]!;
    assert.equal(second.value.term, 2);
    const third = rest.find((i) => i !== secondIndex)!;
    await cs[secondIndex]!.resign();
    const last = await wins[third]!;
    assert.equal(last.term, 3);
    assert.equal(await cs[third]!.leader(), ["a", "b", "c"][third]);

    // The observer saw each leader in turn.
    const order = [first.index, secondIndex, third].map((i) => ["a", "b", "c"][i]);
    while (seen.filter((v) => v !== undefined).length < 3) await new Promise((r) => setTimeout(r, 20));
    stop();
    assert.deepEqual(
      seen.filter((v) => v !== undefined),
      order,
    );
  });

  test("a revoked lease: the leader's lost resolves and the standby leads with term + 1", async () => {
    const prefix = freshPrefix();
    const a = candidate(prefix, "a");
    const la = await a.won();
    const b = candidate(prefix, "b");
    const bWins = b.won();
    // The lease id is the candidate key's last segment, in hex.
    const id = BigInt(`0x${la.key.slice(la.key.lastIndexOf("/") + 1)}`).toString();
    await client().leaseClient.leaseRevoke({ ID: id });
    const reason = await la.lost;
    assert.match(reason.message, /lease/);
    const lb = await bWins;
    assert.equal(lb.term, la.term + 1);
    // a campaigns again: a new key behind b's.
    const aAgain = a.won();
    await b.resign();
    const la2 = await aAgain;
    assert.equal(la2.term, lb.term + 1);
    assert.notEqual(la2.key, la.key);
  });

  test("a leader frozen past its TTL is deposed: the standby leads, and the old one's fenced write is refused", async () => {
    const prefix = freshPrefix();
    const ttl = 2;
    const child = new ChildCandidate(etcd.endpoint, prefix, ttl, "frozen");
    children.push(child);
    const led = await child.next("leader");
    const b = candidate(prefix, "b", ttl);
    const bWins = b.won();
    // Proof that the child's fence works while it leads: its write goes through.
    child.send(`write ${prefix}/fenced before`);
    assert.equal((await child.next("write")).succeeded, true);

    child.child.kill("SIGSTOP");
    const lb = await bWins;
    assert.equal(lb.term, (led.term as number) + 1);
    assert.equal(await b.leader(), "b");

    child.child.kill("SIGCONT");
    child.send(`write ${prefix}/fenced after`);
    assert.equal((await child.next("write")).succeeded, false);
    assert.match(String((await child.next("lost")).reason), /keepalive|lease/);
    assert.equal(await client().get(`${prefix}/fenced`).string(), "before");
    assert.equal(lb.held(), true);
  });

  test("a leader whose event loop stalls past its keepalive deadline, but not past its TTL, keeps its term", async () => {
    const prefix = freshPrefix();
    const ttl = 6;
    const a = candidate(prefix, "a", ttl);
    const la = await a.won();
    const b = candidate(prefix, "b", ttl);
    const bWins = b.won();
    // The fault: the event loop blocked (as a takeover under load can), so no keepalive is
    // sent or answered, until just past the serving deadline (2/3 of the TTL). The lease itself
    // is still alive in etcd for about a third of the TTL.
    while (la.held()) {
      // spinning: nothing else runs
    }
    const end = Date.now() + 200;
    while (Date.now() < end) {
      // a little past the deadline
    }
    assert.equal(la.held(), false, "past the deadline the leader does not serve");
    // Not over: etcd answers the next keepalive (the lease never expired) and serving resumes.
    const lost = la.lost.then((r) => r);
    while (!la.held()) {
      const r = await Promise.race([lost, new Promise((res) => setTimeout(res, 20))]);
      if (r instanceof Error) assert.fail(`the leadership ended: ${r.message}`);
    }
    assert.equal(la.signal.aborted, false);
    assert.equal((await electionStatus(client(), prefix)).term, la.term);
    // The standby did not lead meanwhile: it leads only after the resign, in the very next term.
    await a.resign();
    assert.equal((await bWins).term, la.term + 1);
  });

  test("a candidate that resigns before it leads: won() rejects with CampaignResignedError", async () => {
    const prefix = freshPrefix();
    const a = candidate(prefix, "a");
    const la: Leadership = await a.won();
    const b = candidate(prefix, "b");
    const bWins = b.won();
    // b's key stands behind a's before it resigns: the status lists a as leader, b waits.
    while ((await client().getAll().prefix(`${prefix}/candidates/`).keys()).length < 2)
      await new Promise((r) => setTimeout(r, 20));
    const refused = assert.rejects(bWins, CampaignResignedError);
    await b.resign();
    await refused;
    assert.equal(la.held(), true);
    assert.equal((await client().getAll().prefix(`${prefix}/candidates/`).keys()).length, 1);
  });
});
