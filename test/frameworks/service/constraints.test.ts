import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Constraint } from "../../../frameworks/service/app-spec.js";
import {
  type AgentView,
  placementViolation,
  staticViolation,
} from "../../../frameworks/service/constraints.js";

const agent = (id: string, zone: string, rack = "r1"): AgentView => ({
  agentId: id,
  hostname: `host-${id}`,
  attributes: { zone, rack },
});
const a = agent("a", "z1");
const b = agent("b", "z1");
const c = agent("c", "z2");
const known = [a, b, c];

describe("constraints", () => {
  test("hostname UNIQUE: one instance per host", () => {
    const k: Constraint[] = [{ field: "hostname", op: "UNIQUE", value: "" }];
    assert.equal(placementViolation(k, a, [], known), undefined);
    assert.match(placementViolation(k, a, [a], known) ?? "", /UNIQUE/);
    assert.equal(placementViolation(k, b, [a], known), undefined);
  });

  test("zone GROUP_BY: spreads evenly over the zones", () => {
    const k: Constraint[] = [{ field: "zone", op: "GROUP_BY", value: "" }];
    assert.equal(placementViolation(k, a, [], known), undefined);
    // z1 has one, z2 none: the next goes to z2 only.
    assert.match(placementViolation(k, b, [a], known) ?? "", /GROUP_BY/);
    assert.equal(placementViolation(k, c, [a], known), undefined);
    // one each: either zone.
    assert.equal(placementViolation(k, b, [a, c], known), undefined);
  });

  test("LIKE and UNLIKE match the whole value", () => {
    const like: Constraint[] = [{ field: "rack", op: "LIKE", value: "r[12]" }];
    assert.equal(staticViolation(like, agent("x", "z1", "r2")), undefined);
    assert.match(staticViolation(like, agent("x", "z1", "r21")) ?? "", /not LIKE/);
    const unlike: Constraint[] = [{ field: "zone", op: "UNLIKE", value: "z2" }];
    assert.equal(staticViolation(unlike, a), undefined);
    assert.match(placementViolation(unlike, c, [], known) ?? "", /is LIKE/);
  });

  test("a missing attribute is the empty value", () => {
    const like: Constraint[] = [{ field: "gpu", op: "LIKE", value: ".+" }];
    assert.match(staticViolation(like, a) ?? "", /gpu "" is not LIKE/);
  });
});
