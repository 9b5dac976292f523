// Who a caller is, from what it presented: per-principal tokens by their sha256, the legacy
// cluster token, and nothing at all (only a development master accepts that).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { describe, test } from "node:test";
import { createCa, issueCertificate } from "../../../common/pki.js";
import { UnauthenticatedError } from "../../../common/errors.js";
import { Authenticator, sha256Hex } from "../../../master/auth/authenticate.js";
import { DEFAULT_POLICY, type Policy } from "../../../master/auth/policy.js";

const policy: Policy = {
  ...DEFAULT_POLICY,
  tokens: [{ name: "ci", kind: "operator", groups: ["deployer"], sha256: sha256Hex("yard_ci-secret") }],
};

describe("Authenticator", () => {
  test("a per-principal token is its principal", () => {
    const a = new Authenticator({ policy, open: false });
    assert.deepEqual(a.authenticate({ bearer: "yard_ci-secret" }), {
      name: "ci",
      kind: "operator",
      groups: ["deployer"],
      via: "token",
    });
  });

  test("the cluster token is cluster-token in group admin, unless the policy denies it", () => {
    const a = new Authenticator({ policy, clusterToken: "shared", open: false });
    assert.equal(a.authenticate({ bearer: "shared" }).name, "cluster-token");
    assert.deepEqual(a.authenticate({ bearer: "shared" }).groups, ["admin"]);
    const denied = new Authenticator({
      policy: { ...policy, clusterToken: "deny" },
      clusterToken: "shared",
      open: false,
    });
    assert.throws(() => denied.authenticate({ bearer: "shared" }), /disabled by the policy/);
  });

  test("a wrong token and no credentials are UNAUTHENTICATED", () => {
    const a = new Authenticator({ policy, clusterToken: "shared", open: false });
    assert.throws(() => a.authenticate({ bearer: "sharedX" }), UnauthenticatedError);
    assert.throws(() => a.authenticate({}), /no credentials/);
  });

  test("only an open (development) master takes callers without credentials, as anonymous admin", () => {
    const a = new Authenticator({ policy: DEFAULT_POLICY, open: true });
    assert.deepEqual(a.authenticate({}), {
      name: "anonymous",
      kind: "operator",
      groups: ["admin"],
      via: "insecure",
    });
  });

  test("a forwarded certificate (ReviewAccess) is checked against the cluster CA: issuer and validity", () => {
    const ca = createCa();
    const der = (pem: string) => new X509Certificate(pem).raw;
    const a = new Authenticator({ policy, open: false, ca: new X509Certificate(ca.cert) });
    const alice = issueCertificate(ca, { kind: "operator", name: "alice", groups: ["deployer", "viewer"] });
    assert.deepEqual(a.authenticate({ certificate: der(alice.cert), certificateVerified: false }), {
      name: "alice",
      kind: "operator",
      groups: ["deployer", "viewer"],
      via: "certificate",
    });
    const foreign = issueCertificate(createCa(), { kind: "operator", name: "alice", groups: ["admin"] });
    assert.throws(
      () => a.authenticate({ certificate: der(foreign.cert), certificateVerified: false }),
      /not issued by the cluster CA/,
    );
    const expired = issueCertificate(ca, {
      kind: "operator",
      name: "alice",
      notBefore: new Date(Date.now() - 2 * 86_400_000),
      notAfter: new Date(Date.now() - 86_400_000),
    });
    assert.throws(
      () => a.authenticate({ certificate: der(expired.cert), certificateVerified: false }),
      /is not valid now/,
    );
  });

  test("a forwarded certificate needs a CA to be checked against", () => {
    const a = new Authenticator({ policy, open: false });
    assert.throws(
      () => a.authenticate({ certificate: Buffer.from("not a certificate"), certificateVerified: false }),
      UnauthenticatedError,
    );
  });
});
