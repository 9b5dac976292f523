// Who may use the private swarm: passkeys of members, the master's own, grants bound to one
// release, one host and a deadline (with an injected clock).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SwarmAccess } from "../../../master/releases/swarm-access.js";

const HASH = "aa".repeat(20);
const OTHER = "bb".repeat(20);

function access(members: string[] = ["agent-1"]) {
  let now = 1_000_000;
  const a = new SwarmAccess({ isMember: (id) => members.includes(id), now: () => now }, Buffer.alloc(32, 7));
  return { a, members, advance: (ms: number) => (now += ms) };
}

describe("swarm access", () => {
  test("a member's passkey is accepted; a made-up one, and a lost agent's, are not", () => {
    const { a, members } = access();
    const passkey = a.passkeyFor("agent-1");
    assert.equal(a.passkeyFor("agent-1"), passkey, "stable for one agent while the master runs");
    assert.deepEqual(a.caller({ passkey }, "10.0.0.1"), { kind: "member", id: "agent-1" });
    assert.equal(a.caller({ passkey: "0".repeat(40) }, "10.0.0.1"), undefined);
    assert.equal(a.caller({}, "10.0.0.1"), undefined);
    members.length = 0;
    assert.equal(a.caller({ passkey }, "10.0.0.1"), undefined, "no longer a member");
    assert.deepEqual(a.caller({ passkey: a.masterPasskey() }, "10.0.0.1"), { kind: "member", id: "" });
  });

  test("passkeys differ between agents and between swarm keys (a restart rotates them)", () => {
    const one = new SwarmAccess({ isMember: () => true });
    const two = new SwarmAccess({ isMember: () => true });
    assert.notEqual(one.passkeyFor("agent-1"), one.passkeyFor("agent-2"));
    assert.notEqual(one.passkeyFor("agent-1"), two.passkeyFor("agent-1"));
    assert.equal(two.caller({ passkey: one.passkeyFor("agent-1") }, "10.0.0.1"), undefined);
  });

  test("masters that share a swarm key (HA) accept each other's passkey before any announce", () => {
    const key = Buffer.alloc(32, 9);
    const leader = new SwarmAccess({ isMember: () => false }, key);
    const standby = new SwarmAccess({ isMember: () => false }, Buffer.from(key));
    assert.deepEqual(leader.caller({ passkey: standby.masterPasskey() }, "10.0.0.9"), {
      kind: "member",
      id: "",
    });
    const stranger = new SwarmAccess({ isMember: () => false });
    assert.equal(leader.caller({ passkey: stranger.masterPasskey() }, "10.0.0.9"), undefined);
  });

  test("a grant holds for its release, from its host, until its deadline", async () => {
    const { a, advance } = access();
    const g = await a.grant(HASH, "192.0.2.7", 60_000);
    assert.deepEqual(g.addresses, ["192.0.2.7"]);
    assert.equal(a.caller({ grant: g.token }, "192.0.2.7", HASH)?.kind, "grant");
    assert.equal(
      a.caller({ grant: g.token }, "::ffff:192.0.2.7", HASH)?.kind,
      "grant",
      "v4 over a v6 socket",
    );
    assert.equal(a.caller({ grant: g.token }, "192.0.2.8", HASH), undefined, "another host");
    assert.equal(a.caller({ grant: g.token }, "192.0.2.7", OTHER), undefined, "another release");
    assert.equal(a.caller({ grant: `${g.token}x` }, "192.0.2.7", HASH), undefined, "a forged token");
    assert.equal(a.granted("192.0.2.7", HASH), true);
    assert.equal(a.granted("192.0.2.7", OTHER), false);
    advance(60_000);
    assert.equal(a.caller({ grant: g.token }, "192.0.2.7", HASH), undefined, "expired");
    assert.equal(a.granted("192.0.2.7", HASH), false);
  });

  test("a grant names a host and lasts between 1 s and a day", async () => {
    const { a } = access();
    await assert.rejects(a.grant(HASH, "", 1000), /host: is required/);
    await assert.rejects(a.grant(HASH, "10.0.0.1", 0), /ttl_seconds/);
    await assert.rejects(a.grant(HASH, "10.0.0.1", 25 * 3_600_000), /ttl_seconds/);
    await assert.rejects(
      a.grant(HASH, "no-such-host.invalid", 1000),
      /host: "no-such-host.invalid" does not resolve/,
    );
    const local = await a.grant(HASH, "localhost", 1000);
    assert.ok(local.addresses.length > 0);
  });
});
