// The cluster PKI (common/pki.ts) and the principal a certificate names (common/principal.ts).
import assert from "node:assert/strict";
import { createPrivateKey, generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import * as asn1js from "asn1js";
import * as pkijs from "pkijs";
import {
  CaFileError,
  createCa,
  initCaDir,
  issueCertificate,
  issueIntoDir,
  readCaDir,
} from "../../common/pki.js";
import { InvalidIdentityError, principalFromCertificate } from "../../common/principal.js";
import { loadTlsMaterial } from "../../common/tls.js";
import { UnsupportedKeyError } from "../../common/x509-certificate.js";
import { rsaCaDirCopy } from "../rsa-ca-fixture.js";

const ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
const SHA256_WITH_RSA = "1.2.840.113549.1.1.11";

/** The parts of a certificate Node's X509Certificate does not show: algorithm and extensions. */
function parse(pem: string) {
  const c = pkijs.Certificate.fromBER(new X509Certificate(pem).raw);
  const ext = (oid: string) => c.extensions?.find((e) => e.extnID === oid);
  const octets = (e: pkijs.Extension | undefined) => {
    const inner = asn1js.fromBER(e!.extnValue.valueBlock.valueHexView).result as asn1js.OctetString;
    return Buffer.from(inner.valueBlock.valueHexView).toString("hex");
  };
  const basic = ext("2.5.29.19");
  const usage = ext("2.5.29.15");
  const usageBits = usage?.parsedValue as asn1js.BitString | undefined;
  return {
    signatureAlgorithm: c.signatureAlgorithm.algorithmId,
    basicConstraints: {
      critical: basic?.critical,
      ...(basic?.parsedValue as pkijs.BasicConstraints | undefined)?.toJSON(),
    },
    keyUsage: { critical: usage?.critical, bits: usageBits?.valueBlock.valueHexView[0] },
    subjectKeyId: octets(ext("2.5.29.14")),
    authorityKeyId: (() => {
      const aki = ext("2.5.29.35")?.parsedValue as pkijs.AuthorityKeyIdentifier | undefined;
      return aki?.keyIdentifier
        ? Buffer.from(aki.keyIdentifier.valueBlock.valueHexView).toString("hex")
        : undefined;
    })(),
  };
}

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

  test("keys are ECDSA P-256 in PKCS#8, and the CA signs with ecdsa-with-SHA256", () => {
    const leaf = issueCertificate(ca, { kind: "agent", name: "a1" });
    for (const pair of [ca, leaf]) {
      assert.match(pair.key, /^-----BEGIN PRIVATE KEY-----\n/);
      const key = createPrivateKey(pair.key);
      assert.equal(key.asymmetricKeyType, "ec");
      assert.equal(key.asymmetricKeyDetails?.namedCurve, "prime256v1");
      assert.equal(parse(pair.cert).signatureAlgorithm, ECDSA_WITH_SHA256);
      assert.ok(new X509Certificate(pair.cert).checkPrivateKey(key));
    }
  });

  test("extensions: a CA for leaves only; leaves sign, serve and connect, and name their CA's key", () => {
    const caExt = parse(ca.cert);
    assert.deepEqual(caExt.basicConstraints, { critical: true, cA: true, pathLenConstraint: 0 });
    assert.deepEqual(caExt.keyUsage, { critical: true, bits: 0x06 }); // keyCertSign, cRLSign
    assert.equal(caExt.authorityKeyId, undefined);
    const leaf = issueCertificate(ca, { kind: "master", name: "m" });
    const leafExt = parse(leaf.cert);
    assert.deepEqual(leafExt.basicConstraints, { critical: true });
    assert.deepEqual(leafExt.keyUsage, { critical: true, bits: 0x80 }); // digitalSignature
    assert.deepEqual(new X509Certificate(leaf.cert).keyUsage, ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    assert.equal(leafExt.authorityKeyId, caExt.subjectKeyId);
    assert.match(leafExt.subjectKeyId, /^[0-9a-f]{40}$/);
  });

  test("an RSA-2048 certificate can still be asked for, and keeps keyEncipherment", () => {
    const leaf = issueCertificate(ca, { kind: "agent", name: "a1", keyAlgorithm: "rsa-2048" });
    const key = createPrivateKey(leaf.key);
    assert.equal(key.asymmetricKeyType, "rsa");
    assert.equal(key.asymmetricKeyDetails?.modulusLength, 2048);
    assert.deepEqual(parse(leaf.cert).keyUsage, { critical: true, bits: 0xa0 });
    assert.ok(new X509Certificate(leaf.cert).verify(new X509Certificate(ca.cert).publicKey));
  });

  test("a CA key that is neither EC nor RSA is refused by name", () => {
    const ed = generateKeyPairSync("ed25519").privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    assert.throws(
      () => issueCertificate({ cert: ca.cert, key: ed }, { kind: "agent", name: "a1" }),
      (err: Error) => err instanceof UnsupportedKeyError && /ed25519 key/.test(err.message),
    );
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
    const v6 = new X509Certificate(
      issueCertificate(ca, { kind: "master", name: "m", sans: ["::1", "fd00::7:8", "::ffff:10.0.0.9"] }).cert,
    );
    assert.ok(v6.checkIP("::1") && v6.checkIP("fd00::7:8") && v6.checkIP("::ffff:10.0.0.9"));
    assert.equal(v6.checkIP("fd00::7:9"), undefined);
  });

  test("validity dates from 2050 on are GeneralizedTime, and fractions of a second are dropped", () => {
    const notAfter = new Date("2100-01-01T00:00:00.750Z");
    const cert = new X509Certificate(issueCertificate(ca, { kind: "agent", name: "a1", notAfter }).cert);
    assert.equal(Date.parse(cert.validTo), Date.parse("2100-01-01T00:00:00Z"));
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

  describe("a TLS directory made by an older yardctl with RSA keys", () => {
    test("still loads, and its certificates still load", () => {
      const dir = rsaCaDirCopy();
      assert.equal(createPrivateKey(readCaDir(dir).key).asymmetricKeyType, "rsa");
      const m = loadTlsMaterial({ dir, name: "legacy-admin" });
      assert.equal(principalFromCertificate(new X509Certificate(m.cert)).name, "legacy-admin");
    });

    test("issues P-256 certificates signed with RSA that chain to its ca.crt", () => {
      const dir = rsaCaDirCopy();
      issueIntoDir(dir, { kind: "agent", name: "agent-2", groups: ["edge"] });
      const m = loadTlsMaterial({ dir, name: "agent-2" });
      const cert = new X509Certificate(m.cert);
      assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
      assert.equal(cert.issuer, "CN=yard cluster CA");
      const ext = parse(m.cert.toString());
      assert.equal(ext.signatureAlgorithm, SHA256_WITH_RSA);
      assert.equal(ext.authorityKeyId, parse(m.ca.toString()).subjectKeyId);
      assert.deepEqual(principalFromCertificate(cert), {
        name: "agent-2",
        kind: "agent",
        groups: ["edge"],
        via: "certificate",
      });
    });
  });
});
