// Encodes and signs X.509 v3 certificates: the ASN.1 comes from pkijs/asn1js, the signature
// from Node's crypto (OpenSSL). Signing stays synchronous (crypto.sign over the DER of the
// TBSCertificate) rather than going through pkijs's WebCrypto engine, so issuing a
// certificate remains a plain function call for the CLI and the tests. The signature
// algorithm follows the issuer's key: ecdsa-with-SHA256 for an EC key, sha256WithRSAEncryption
// for an RSA key (CAs made before Yard moved to P-256).
import { createHash, type KeyObject, sign, X509Certificate } from "node:crypto";
import { createRequire } from "node:module";
import { isIPv4, isIPv6 } from "node:net";
import type * as Asn1js from "asn1js";
import type * as Pkijs from "pkijs";

// Loaded on first use: every daemon imports the TLS module, few of them ever issue a
// certificate, and pkijs takes a few hundred ms to load on a busy host.
const load = createRequire(import.meta.url);
let libs: { asn1js: typeof Asn1js; pkijs: typeof Pkijs } | undefined;
function lib(): { asn1js: typeof Asn1js; pkijs: typeof Pkijs } {
  libs ??= { asn1js: load("asn1js"), pkijs: load("pkijs") };
  return libs;
}

/** Subject attributes, in the order given (common/principal.ts reads CN, OU and O). */
export interface NameAttribute {
  type: "CN" | "OU" | "O";
  value: string;
}

export type KeyUsage = "digitalSignature" | "keyEncipherment" | "keyCertSign" | "cRLSign";

export interface CertificateSpec {
  subject: NameAttribute[];
  publicKey: KeyObject;
  /** The issuing CA's certificate (PEM); absent for a self-signed certificate. */
  issuerCert?: string;
  /** The issuer's private key (the subject's own for a self-signed certificate). */
  signingKey: KeyObject;
  /** A positive serial, at most 20 octets, first octet in 0x01..0x7f. */
  serial: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** Present for a CA: basicConstraints cA with this path length. */
  caPathLen?: number;
  keyUsage: KeyUsage[];
  extKeyUsage?: ("serverAuth" | "clientAuth")[];
  /** subjectAltName entries: IP literals become iPAddress, everything else dNSName. */
  sans?: string[];
}

/** Thrown when a key cannot sign certificates here (only EC and RSA keys can). */
export class UnsupportedKeyError extends Error {
  override readonly name = "UnsupportedKeyError";
  constructor(readonly keyType: string) {
    super(`cannot sign certificates with a ${keyType} key: the CA key must be EC (P-256) or RSA`);
  }
}

const OID = {
  CN: "2.5.4.3",
  OU: "2.5.4.11",
  O: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  authorityKeyIdentifier: "2.5.29.35",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  sha256WithRsa: "1.2.840.113549.1.1.11",
} as const;

/** Bit n of KeyUsage ::= BIT STRING, counted from the most significant bit (RFC 5280 4.2.1.3). */
const KEY_USAGE_BIT: Record<KeyUsage, number> = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
};

/** Builds, signs and returns the certificate as PEM. */
export function buildCertificate(spec: CertificateSpec): string {
  const { asn1js, pkijs } = lib();
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = new asn1js.Integer({ valueHex: toArrayBuffer(spec.serial) });
  const sigAlg = signatureAlgorithm(spec.signingKey);
  cert.signature = sigAlg;
  cert.signatureAlgorithm = sigAlg;

  const spki = pkijs.PublicKeyInfo.fromBER(
    toArrayBuffer(spec.publicKey.export({ type: "spki", format: "der" })),
  );
  cert.subjectPublicKeyInfo = spki;
  cert.subject = name(spec.subject);
  cert.notBefore = time(spec.notBefore);
  cert.notAfter = time(spec.notAfter);

  const issuer = spec.issuerCert
    ? pkijs.Certificate.fromBER(new X509Certificate(spec.issuerCert).raw)
    : undefined;
  // The issuer name is copied as the CA encoded it, so chain building matches it exactly.
  cert.issuer = issuer ? issuer.subject : cert.subject;

  const ext = (extnID: string, critical: boolean, value: { toBER(): ArrayBuffer }) =>
    new pkijs.Extension({ extnID, critical, extnValue: value.toBER() });
  const extensions = [
    ext(
      OID.basicConstraints,
      true,
      new pkijs.BasicConstraints(
        spec.caPathLen === undefined ? { cA: false } : { cA: true, pathLenConstraint: spec.caPathLen },
      ).toSchema(),
    ),
    ext(OID.keyUsage, true, keyUsageBits(spec.keyUsage)),
  ];
  if (spec.extKeyUsage) {
    extensions.push(
      ext(
        OID.extKeyUsage,
        false,
        new pkijs.ExtKeyUsage({ keyPurposes: spec.extKeyUsage.map((p) => OID[p]) }).toSchema(),
      ),
    );
  }
  if (spec.sans) {
    const names = spec.sans.map((s) =>
      isIPv4(s) || isIPv6(s)
        ? new pkijs.GeneralName({ type: 7, value: new asn1js.OctetString({ valueHex: ipBytes(s) }) })
        : new pkijs.GeneralName({ type: 2, value: s }),
    );
    extensions.push(ext(OID.subjectAltName, false, new pkijs.GeneralNames({ names }).toSchema()));
  }
  extensions.push(ext(OID.subjectKeyIdentifier, false, new asn1js.OctetString({ valueHex: keyId(spki) })));
  if (issuer) {
    extensions.push(
      ext(
        OID.authorityKeyIdentifier,
        false,
        new pkijs.AuthorityKeyIdentifier({
          keyIdentifier: new asn1js.OctetString({ valueHex: issuerKeyId(issuer) }),
        }).toSchema(),
      ),
    );
  }
  cert.extensions = extensions;

  // Sign exactly the bytes that go out: tbsView is what toSchema(false) emits.
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER());
  const signature = sign("sha256", cert.tbsView, spec.signingKey);
  cert.signatureValue = new asn1js.BitString({ valueHex: toArrayBuffer(signature) });
  return new X509Certificate(Buffer.from(cert.toSchema(false).toBER())).toString();
}

/**
 * One attribute per RDN, as OpenSSL writes names and as earlier Yard certificates had them. (pkijs would put every attribute
 * of a new name into a single multi-valued RDN.) UTF8String, as RFC 5280 4.1.2.6 asks.
 */
function name(attrs: NameAttribute[]): Pkijs.RelativeDistinguishedNames {
  const { asn1js, pkijs } = lib();
  const rdns = attrs.map(
    (a) =>
      new asn1js.Set({
        value: [
          new pkijs.AttributeTypeAndValue({
            type: OID[a.type],
            value: new asn1js.Utf8String({ value: a.value }),
          }).toSchema(),
        ],
      }),
  );
  // Parsed back so that the name keeps exactly these bytes when the certificate is encoded.
  return pkijs.RelativeDistinguishedNames.fromBER(new asn1js.Sequence({ value: rdns }).toBER());
}

function signatureAlgorithm(key: KeyObject): Pkijs.AlgorithmIdentifier {
  const { asn1js, pkijs } = lib();
  switch (key.asymmetricKeyType) {
    case "ec":
      // RFC 5758 3.2: the parameters field is absent for ecdsa-with-SHA256.
      return new pkijs.AlgorithmIdentifier({ algorithmId: OID.ecdsaWithSha256 });
    case "rsa":
      // RFC 4055 5: NULL parameters for sha256WithRSAEncryption.
      return new pkijs.AlgorithmIdentifier({
        algorithmId: OID.sha256WithRsa,
        algorithmParams: new asn1js.Null(),
      });
    default:
      throw new UnsupportedKeyError(key.asymmetricKeyType ?? "unknown");
  }
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds only. */
function time(d: Date): Pkijs.Time {
  const { pkijs } = lib();
  const value = new Date(Math.floor(d.getTime() / 1000) * 1000);
  return new pkijs.Time({ type: value.getUTCFullYear() < 2050 ? 0 : 1, value });
}

/** DER wants the trailing zero bits of a named bit list dropped (X.690 11.2.2). */
function keyUsageBits(usages: KeyUsage[]): Asn1js.BitString {
  const { asn1js } = lib();
  let byte = 0;
  let last = 0;
  for (const u of usages) {
    byte |= 0x80 >> KEY_USAGE_BIT[u];
    last = Math.max(last, KEY_USAGE_BIT[u]);
  }
  return new asn1js.BitString({ valueHex: new Uint8Array([byte]).buffer, unusedBits: 7 - last });
}

/** RFC 5280 4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
function keyId(spki: Pkijs.PublicKeyInfo): ArrayBuffer {
  return toArrayBuffer(createHash("sha1").update(spki.subjectPublicKey.valueBlock.valueHexView).digest());
}

/** The CA's own subjectKeyIdentifier, or one computed from its key when it carries none. */
function issuerKeyId(issuer: Pkijs.Certificate): ArrayBuffer {
  const { asn1js } = lib();
  const ski = issuer.extensions?.find((e) => e.extnID === OID.subjectKeyIdentifier);
  if (ski) {
    const parsed = asn1js.fromBER(ski.extnValue.valueBlock.valueHexView);
    if (parsed.offset !== -1 && parsed.result instanceof asn1js.OctetString)
      return toArrayBuffer(parsed.result.valueBlock.valueHexView);
  }
  return keyId(issuer.subjectPublicKeyInfo);
}

/** The 4 or 16 octets of an IP literal (IPv6 with "::" and a dotted IPv4 tail accepted). */
function ipBytes(ip: string): ArrayBuffer {
  if (isIPv4(ip)) return new Uint8Array(ip.split(".").map(Number)).buffer;
  let text = ip;
  const v4 = text.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const [a, b, c, d] = v4[1].split(".").map(Number);
    text = `${text.slice(0, -v4[1].length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (s: string | undefined) => (s ? s.split(":") : []);
  const left = groups(head);
  const right = groups(tail);
  const all =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out.buffer;
}

function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
