// The cluster's PKI: a CA and the certificates it issues to masters, agents, frameworks and
// operators. Keys come from Node's native crypto (RSA generation in forge's pure JS takes
// seconds per key); node-forge builds and signs the X.509 certificates, which Node's crypto
// cannot do. Certificates follow the identity contract of common/principal.ts.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import forge from "node-forge";
import { isPrincipalKind, type PrincipalKind } from "./principal.js";

/** A PEM certificate and its PEM private key. */
export interface KeyPair {
  cert: string;
  key: string;
}

export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 365;
const KEY_BITS = 2048;
/** Issued certificates start a few minutes in the past, so a peer whose clock lags accepts them. */
const BACKDATE_MS = 5 * 60_000;
const MS_PER_DAY = 86_400_000;

export interface CaOptions {
  /** The CA's subject CN, e.g. "yard cluster CA". */
  name?: string;
  days?: number;
  now?: Date;
}

/** Creates a self-signed CA that may sign leaf certificates only (pathLen 0). */
export function createCa(opts: CaOptions = {}): KeyPair {
  const now = opts.now ?? new Date();
  const { publicKey, privateKey, keyPem } = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter = new Date(now.getTime() + (opts.days ?? DEFAULT_CA_DAYS) * MS_PER_DAY);
  const subject = [{ shortName: "CN", value: opts.name ?? "yard cluster CA" }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

export interface IssueRequest {
  kind: PrincipalKind;
  /** The principal name (subject CN). */
  name: string;
  /** Groups (one subject O each), e.g. admin, deployer, viewer. */
  groups?: string[];
  /** Extra subject alternative names (DNS names or IP addresses) besides localhost and 127.0.0.1. */
  sans?: string[];
  days?: number;
  /** Explicit validity, for tests of expired or not-yet-valid certificates. */
  notBefore?: Date;
  notAfter?: Date;
  now?: Date;
}

/** Thrown when an issue request names something a certificate cannot carry. */
export class InvalidCertificateRequestError extends Error {
  override readonly name = "InvalidCertificateRequestError";
  constructor(
    readonly field: string,
    readonly value: string,
    reason: string,
  ) {
    super(`${field} ${JSON.stringify(value)}: ${reason}`);
  }
}

/**
 * Issues a certificate signed by `ca`. Every certificate may serve and connect (serverAuth +
 * clientAuth): masters and frameworks serve gRPC and connect as clients. Every certificate
 * names localhost and 127.0.0.1 so that single-host clusters need no --san.
 */
export function issueCertificate(ca: KeyPair, req: IssueRequest): KeyPair {
  validate(req);
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const now = req.now ?? new Date();
  const { publicKey, keyPem } = newKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = req.notBefore ?? new Date(now.getTime() - BACKDATE_MS);
  cert.validity.notAfter =
    req.notAfter ?? new Date(now.getTime() + (req.days ?? DEFAULT_CERT_DAYS) * MS_PER_DAY);
  cert.setSubject([
    { shortName: "CN", value: req.name },
    { shortName: "OU", value: req.kind },
    ...(req.groups ?? []).map((g) => ({ shortName: "O", value: g })),
  ]);
  cert.setIssuer(caCert.subject.attributes);
  const sans = ["localhost", "127.0.0.1", ...(req.sans ?? [])];
  cert.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true, clientAuth: true },
    {
      name: "subjectAltName",
      altNames: [...new Set(sans)].map((s) => (isIP(s) ? { type: 7, ip: s } : { type: 2, value: s })),
    },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}

function validate(req: IssueRequest): void {
  if (!isPrincipalKind(req.kind))
    throw new InvalidCertificateRequestError("kind", req.kind, "not a principal kind");
  if (!NAME.test(req.name)) {
    throw new InvalidCertificateRequestError(
      "name",
      req.name,
      "use letters, digits, '.', '_' and '-' (1-64)",
    );
  }
  for (const g of req.groups ?? []) {
    if (!NAME.test(g))
      throw new InvalidCertificateRequestError("group", g, "use letters, digits, '.', '_' and '-'");
  }
  for (const s of req.sans ?? []) {
    if (!isIP(s) && !DNS_NAME.test(s))
      throw new InvalidCertificateRequestError("san", s, "not a DNS name or IP");
  }
  const days = req.days ?? DEFAULT_CERT_DAYS;
  if (!Number.isInteger(days) || days < 1) {
    throw new InvalidCertificateRequestError("days", String(req.days), "must be a whole number >= 1");
  }
}

/** Names double as file names in a TLS directory, so they stay path-safe. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

function newKey() {
  const { privateKey: keyPem } = generateKeyPairSync("rsa", {
    modulusLength: KEY_BITS,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs1", format: "pem" },
  });
  const privateKey = forge.pki.privateKeyFromPem(keyPem);
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  return { privateKey, publicKey, keyPem };
}

/** A random positive 128-bit serial (RFC 5280 allows up to 20 octets; the top bit stays 0). */
function serialNumber(): string {
  const b = randomBytes(16);
  b[0] = b[0] & 0x7f;
  return b.toString("hex");
}

// ---- The TLS directory: ca.crt (+ ca.key where certificates are issued), <name>.crt/.key ----

export const CA_CERT_FILE = "ca.crt";
export const CA_KEY_FILE = "ca.key";

/** Thrown when `certs init` would overwrite a CA, or `certs issue` finds none. */
export class CaFileError extends Error {
  override readonly name = "CaFileError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Creates a CA in `dir` (ca.crt, ca.key 0600). Refuses to overwrite an existing CA: every
 * certificate issued by it would stop working.
 */
export function initCaDir(dir: string, opts: CaOptions = {}): KeyPair {
  const certPath = join(dir, CA_CERT_FILE);
  if (existsSync(certPath) || existsSync(join(dir, CA_KEY_FILE))) {
    throw new CaFileError(
      certPath,
      `a CA already exists in ${dir}; remove ca.crt and ca.key to make a new one`,
    );
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createCa(opts);
  writePrivate(join(dir, CA_KEY_FILE), ca.key);
  writeFileSync(certPath, ca.cert, { mode: 0o644 });
  return ca;
}

/** Reads the CA (certificate and key) of `dir`. */
export function readCaDir(dir: string): KeyPair {
  const certPath = join(dir, CA_CERT_FILE);
  const keyPath = join(dir, CA_KEY_FILE);
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    throw new CaFileError(
      keyPath,
      `no CA in ${dir} (ca.crt and ca.key); create one with: yardctl certs init --dir ${dir}`,
    );
  }
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

/** Issues a certificate with the CA of `caDir` and writes <name>.crt and <name>.key (0600) into `outDir` (default caDir). */
export function issueIntoDir(
  caDir: string,
  req: IssueRequest,
  outDir = caDir,
): { certPath: string; keyPath: string } {
  const ca = readCaDir(caDir);
  const pair = issueCertificate(ca, req);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const certPath = join(outDir, `${req.name}.crt`);
  const keyPath = join(outDir, `${req.name}.key`);
  writePrivate(keyPath, pair.key);
  writeFileSync(certPath, pair.cert, { mode: 0o644 });
  if (outDir !== caDir) writeFileSync(join(outDir, CA_CERT_FILE), ca.cert, { mode: 0o644 });
  return { certPath, keyPath };
}

/** Writes a secret file readable by its owner only, also when it already existed with a wider mode. */
function writePrivate(path: string, content: string): void {
  // Narrow an existing file's mode before the secret goes in, not after.
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, content, { mode: 0o600 });
}
