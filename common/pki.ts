// The cluster's PKI: a CA and the certificates it issues to masters, agents, frameworks and
// operators. Keys are ECDSA P-256 from Node's crypto: a TLS handshake with client certificates
// signs once on each side, and after a master failover every agent reconnects at once, so
// signing cost lands on the new leader's event loop (P-256 signs about 20 times faster than
// RSA-2048; docs/benchmarks.md). A CA made with RSA keys by an older Yard keeps loading and
// signing, with RSA signatures over P-256 leaves. Certificates follow the identity contract of
// common/principal.ts; common/x509-certificate.ts encodes and signs them.
import { createPrivateKey, generateKeyPairSync, type KeyObject, randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { isPrincipalKind, type PrincipalKind } from "./principal.js";
import { buildCertificate } from "./x509-certificate.js";

/** A PEM certificate and its PEM private key (PKCS#8 for keys made here). */
export interface KeyPair {
  cert: string;
  key: string;
}

/**
 * The key of a new CA or certificate. ecdsa-p256 is the default and the only one the CLI
 * makes; rsa-2048 remains for comparison (bench/tls-handshake) and tests of older clusters.
 */
export type KeyAlgorithm = "ecdsa-p256" | "rsa-2048";

export const DEFAULT_CA_DAYS = 3650;
export const DEFAULT_CERT_DAYS = 365;
/** Issued certificates start a few minutes in the past, so a peer whose clock lags accepts them. */
const BACKDATE_MS = 5 * 60_000;
const MS_PER_DAY = 86_400_000;

export interface CaOptions {
  /** The CA's subject CN, e.g. "yard cluster CA". */
  name?: string;
  days?: number;
  now?: Date;
  keyAlgorithm?: KeyAlgorithm;
}

/** Creates a self-signed CA that may sign leaf certificates only (pathLen 0). */
export function createCa(opts: CaOptions = {}): KeyPair {
  const now = opts.now ?? new Date();
  const { privateKey, publicKey, keyPem } = newKey(opts.keyAlgorithm);
  const cert = buildCertificate({
    subject: [{ type: "CN", value: opts.name ?? "yard cluster CA" }],
    publicKey,
    signingKey: privateKey,
    serial: serialNumber(),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + (opts.days ?? DEFAULT_CA_DAYS) * MS_PER_DAY),
    caPathLen: 0,
    keyUsage: ["keyCertSign", "cRLSign"],
  });
  return { cert, key: keyPem };
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
  /** The new certificate's key (default ecdsa-p256, whatever the CA's key is). */
  keyAlgorithm?: KeyAlgorithm;
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
 * Issues a certificate signed by `ca` (an EC or an RSA CA). Every certificate may serve and
 * connect (serverAuth + clientAuth): masters and frameworks serve gRPC and connect as
 * clients. Every certificate names localhost and 127.0.0.1 so that single-host clusters need
 * no --san.
 */
export function issueCertificate(ca: KeyPair, req: IssueRequest): KeyPair {
  validate(req);
  const caKey = createPrivateKey(ca.key);
  const now = req.now ?? new Date();
  const { publicKey, keyPem } = newKey(req.keyAlgorithm);
  const cert = buildCertificate({
    subject: [
      { type: "CN", value: req.name },
      { type: "OU", value: req.kind },
      ...(req.groups ?? []).map((g) => ({ type: "O" as const, value: g })),
    ],
    publicKey,
    issuerCert: ca.cert,
    signingKey: caKey,
    serial: serialNumber(),
    notBefore: req.notBefore ?? new Date(now.getTime() - BACKDATE_MS),
    notAfter: req.notAfter ?? new Date(now.getTime() + (req.days ?? DEFAULT_CERT_DAYS) * MS_PER_DAY),
    // An EC key signs (ECDHE handshakes) and cannot encipher; RFC 5480 3 forbids
    // keyEncipherment on it. An RSA leaf keeps what it always carried.
    keyUsage:
      publicKey.asymmetricKeyType === "rsa" ? ["digitalSignature", "keyEncipherment"] : ["digitalSignature"],
    extKeyUsage: ["serverAuth", "clientAuth"],
    sans: [...new Set(["localhost", "127.0.0.1", ...(req.sans ?? [])])],
  });
  return { cert, key: keyPem };
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

function newKey(alg: KeyAlgorithm = "ecdsa-p256"): {
  privateKey: KeyObject;
  publicKey: KeyObject;
  keyPem: string;
} {
  const { privateKey, publicKey } =
    alg === "rsa-2048"
      ? generateKeyPairSync("rsa", { modulusLength: 2048 })
      : generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { privateKey, publicKey, keyPem: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/**
 * A random positive serial of 16 octets (RFC 5280 allows up to 20): the top bit stays 0 and
 * the next is set, so DER needs no leading zero octet and the length is always the same.
 */
function serialNumber(): Buffer {
  const b = randomBytes(16);
  b[0] = (b[0] & 0x3f) | 0x40;
  return b;
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
