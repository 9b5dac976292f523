// The cluster PKI (common/pki.ts) and the principal a certificate names (common/principal.ts).
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CaFileError, createCa, initCaDir, issueCertificate, issueIntoDir } from "../../common/pki.js";
import { InvalidIdentityError, principalFromCertificate } from "../../common/principal.js";

describe("pki", () => {
  const ca = createCa({ name: "test CA" });
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "yard-pki-"));
    dirs.push(d);
    return d;
  };

  test("the CA is self-signed and may sign leaves only", () => {
    const cert = new X509Certificate(ca.cert);
    assert.equal(cert.subject, "CN=test CA");
    assert.equal(cert.ca, true);
    assert.ok(cert.verify(cert.publicKey));
  });

  test("a certificate carries the principal: CN name, OU kind, one O per group", () => {
    const leaf = issueCertificate(ca, { kind: "operator", name: "alice", groups: ["admin", "deployer"] });
    const cert = new X509Certificate(leaf.cert);
    assert.ok(cert.verify(new X509Certificate(ca.cert).publicKey));
    assert.equal(cert.ca, false);
    assert.deepEqual(principalFromCertificate(cert), {
      name: "alice",
      kind: "operator",
      groups: ["admin", "deployer"],
      via: "certificate",
    });
  });

  test("every certificate names localhost and 127.0.0.1, plus the --san given", () => {
    const leaf = issueCertificate(ca, {
      kind: "master",
      name: "master",
      sans: ["m1.example.com", "10.0.0.7"],
    });
    const cert = new X509Certificate(leaf.cert);
    assert.equal(
      cert.subjectAltName,
      "DNS:localhost, IP Address:127.0.0.1, DNS:m1.example.com, IP Address:10.0.0.7",
    );
  });

  test("validity: default one year, or explicit days", () => {
    const now = new Date("2030-01-01T00:00:00Z");
    const cert = new X509Certificate(issueCertificate(ca, { kind: "agent", name: "a1", days: 30, now }).cert);
    assert.equal(Date.parse(cert.validTo), Date.parse("2030-01-31T00:00:00Z"));
    assert.ok(Date.parse(cert.validFrom) < now.getTime());
  });

  const refusals: { name: string; req: Parameters<typeof issueCertificate>[1]; message: RegExp }[] = [
    { name: "unknown kind", req: { kind: "root" as never, name: "x" }, message: /kind "root"/ },
    { name: "a name with a slash", req: { kind: "agent", name: "../x" }, message: /name "..\/x"/ },
    { name: "an empty group", req: { kind: "operator", name: "bob", groups: [""] }, message: /group ""/ },
    {
      name: "a SAN that is no host",
      req: { kind: "master", name: "m", sans: ["a b"] },
      message: /san "a b"/,
    },
    { name: "zero days", req: { kind: "master", name: "m", days: 0 }, message: /days "0"/ },
  ];
  for (const c of refusals) {
    test(`refuses ${c.name}`, () => assert.throws(() => issueCertificate(ca, c.req), c.message));
  }

  test("a certificate whose OU is no kind names no principal", () => {
    // A certificate from the right CA but without the identity layout (e.g. made by hand).
    const leaf = issueCertificate(ca, { kind: "agent", name: "a1" });
    const forged = new X509Certificate(leaf.cert);
    const fake = { subject: forged.subject.replace("OU=agent", "OU=root") } as unknown as X509Certificate;
    assert.throws(() => principalFromCertificate(fake), InvalidIdentityError);
    assert.throws(() => principalFromCertificate({ subject: { OU: "agent" } } as never), /no subject CN/);
  });

  test("a TLS directory: ca.key and keys 0600, no CA overwritten", () => {
    const dir = tempDir();
    initCaDir(dir);
    assert.equal(statSync(join(dir, "ca.key")).mode & 0o777, 0o600);
    const { certPath, keyPath } = issueIntoDir(dir, { kind: "agent", name: "agent-1" });
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.equal(principalFromCertificate(new X509Certificate(readFileSync(certPath))).name, "agent-1");
    assert.throws(() => initCaDir(dir), CaFileError);
  });

  test("issuing into another directory copies ca.crt but never ca.key", () => {
    const caDir = tempDir();
    const out = tempDir();
    initCaDir(caDir);
    issueIntoDir(caDir, { kind: "framework", name: "service" }, out);
    assert.equal(readFileSync(join(out, "ca.crt"), "utf8"), readFileSync(join(caDir, "ca.crt"), "utf8"));
    assert.throws(() => statSync(join(out, "ca.key")), /ENOENT/);
  });

  test("issuing without a CA says how to create one", () => {
    assert.throws(() => issueIntoDir(tempDir(), { kind: "agent", name: "a" }), /yardctl certs init --dir/);
  });
});
