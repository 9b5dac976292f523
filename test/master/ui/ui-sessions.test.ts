import assert from "node:assert/strict";
import { test } from "node:test";
import type { Principal } from "../../../common/principal.js";
import { DELEGATION_PREFIX, UiSessions } from "../../../master/ui/ui-sessions.js";

const alice: Principal = { name: "alice", kind: "operator", groups: ["viewer"], via: "token" };

function clock() {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
}

test("a login code is traded once for a session", () => {
  const s = new UiSessions();
  const { code } = s.mintCode(alice);
  const first = s.redeem(code);
  assert.equal(first?.session.principal.name, "alice");
  assert.equal(s.session(first!.cookie)?.principal.name, "alice");
  assert.equal(s.redeem(code), undefined);
});

test("a code expires after a minute, a session after its lifetime", () => {
  const c = clock();
  const s = new UiSessions({ now: c.now, sessionTtlMs: 10_000 });
  const late = s.mintCode(alice).code;
  c.t += 60_001;
  assert.equal(s.redeem(late), undefined);
  const live = s.redeem(s.mintCode(alice).code)!;
  c.t += 9_999;
  assert.ok(s.session(live.cookie));
  assert.ok(s.delegated(live.session.delegation));
  c.t += 2;
  assert.equal(s.session(live.cookie), undefined);
  assert.equal(s.delegated(live.session.delegation), undefined);
});

test("the delegation token resolves to the operator until the session ends", () => {
  const s = new UiSessions();
  const { cookie, session } = s.redeem(s.mintCode(alice).code)!;
  assert.ok(session.delegation.startsWith(DELEGATION_PREFIX));
  assert.notEqual(session.delegation, cookie);
  assert.equal(s.delegated(session.delegation)?.name, "alice");
  // The cookie is no delegation token, nor is a made-up one.
  assert.equal(s.delegated(cookie), undefined);
  assert.equal(s.delegated(`${DELEGATION_PREFIX}nope`), undefined);
  s.end(cookie);
  assert.equal(s.session(cookie), undefined);
  assert.equal(s.delegated(session.delegation), undefined);
});

test("at most `limit` codes are held: the oldest goes first", () => {
  const s = new UiSessions({ limit: 2 });
  const a = s.mintCode(alice).code;
  const b = s.mintCode(alice).code;
  const c = s.mintCode(alice).code;
  assert.equal(s.redeem(a), undefined);
  assert.ok(s.redeem(b));
  assert.ok(s.redeem(c));
});
