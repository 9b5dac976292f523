// TLS material (cluster CA, own certificate and key) and the credentials made from it for
// gRPC servers, gRPC channels and the HTTPS port. `null` material means plaintext, which
// only an explicit --insecure may ask for (see resolveTlsMaterial).
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { checkServerIdentity, type PeerCertificate, type SecureContextOptions } from "node:tls";
import { type ChannelCredentials, credentials, ServerCredentials } from "@grpc/grpc-js";
import { CA_CERT_FILE } from "./pki.js";
import { type PrincipalKind, principalFromCertificate } from "./principal.js";

/** PEM contents: the cluster CA's certificate, this process's certificate and its key. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** Where to find the material: a TLS directory and an identity name, or explicit files (which win). */
export interface TlsFileOptions {
  /** A directory holding ca.crt and <name>.crt / <name>.key. */
  dir?: string;
  /** The identity's file name in `dir` (without .crt/.key). */
  name?: string;
  ca?: string;
  cert?: string;
  key?: string;
}

/** Thrown when TLS material is missing, unreadable, exposed or unusable; the message says how to fix it. */
export class TlsMaterialError extends Error {
  override readonly name = "TlsMaterialError";
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

/** The warning every start with --insecure logs. */
export const INSECURE_WARNING =
  "WARNING: --insecure: TLS is off. Every call, token and secret crosses the network in plaintext and callers are not authenticated by certificate. Use for development on a trusted host only.";

/** The paths `opts` designates. */
export function tlsPaths(opts: TlsFileOptions): { ca: string; cert: string; key: string } {
  const dir = opts.dir;
  const name = opts.name;
  const inDir = (file: string | undefined) => (dir && file ? join(dir, file) : "");
  return {
    ca: opts.ca ?? inDir(CA_CERT_FILE),
    cert: opts.cert ?? inDir(name && `${name}.crt`),
    key: opts.key ?? inDir(name && `${name}.key`),
  };
}

/**
 * Reads and checks the material: all three files exist, the key is readable by its owner
 * only (as ssh requires of private keys), the certificate was issued by the CA and is valid
 * now. `hint` ends every error message, e.g. how to create the certificate.
 */
export function loadTlsMaterial(opts: TlsFileOptions, hint = ""): TlsMaterial {
  const paths = tlsPaths(opts);
  const suffix = hint ? ` ${hint}` : "";
  for (const [what, path] of Object.entries(paths)) {
    if (!path)
      throw new TlsMaterialError("", `no TLS ${what} file given (--tls-dir, or --tls-${what}).${suffix}`);
    if (!existsSync(path))
      throw new TlsMaterialError(path, `TLS ${what} file ${path} does not exist.${suffix}`);
  }
  const mode = statSync(paths.key).mode;
  if ((mode & 0o077) !== 0) {
    throw new TlsMaterialError(
      paths.key,
      `TLS key ${paths.key} is readable by other users (mode ${(mode & 0o777).toString(8)}); run: chmod 600 ${paths.key}`,
    );
  }
  const material = {
    ca: readFileSync(paths.ca),
    cert: readFileSync(paths.cert),
    key: readFileSync(paths.key),
  };
  checkCertificate(material, paths.cert, suffix);
  return material;
}

function checkCertificate(m: TlsMaterial, certPath: string, suffix: string): void {
  let cert: X509Certificate;
  let ca: X509Certificate;
  try {
    cert = new X509Certificate(m.cert);
    ca = new X509Certificate(m.ca);
  } catch (err) {
    throw new TlsMaterialError(certPath, `cannot parse ${certPath} or its CA: ${(err as Error).message}`);
  }
  if (!cert.verify(ca.publicKey)) {
    throw new TlsMaterialError(
      certPath,
      `certificate ${certPath} was not issued by the CA next to it.${suffix}`,
    );
  }
  const now = Date.now();
  if (Date.parse(cert.validTo) <= now || Date.parse(cert.validFrom) > now) {
    throw new TlsMaterialError(
      certPath,
      `certificate ${certPath} is not valid now (valid ${cert.validFrom} to ${cert.validTo}); issue a new one with yardctl certs issue.`,
    );
  }
  if (!cert.checkPrivateKey(createPrivateKey(m.key))) {
    throw new TlsMaterialError(certPath, `certificate ${certPath} does not match its key`);
  }
}

/** What a daemon or client was told about transport security on its command line or in its config. */
export interface TransportOptions extends TlsFileOptions {
  insecure?: boolean;
}

/**
 * The material a daemon or client runs with: null (plaintext) only with `insecure`, and
 * then `warn` gets INSECURE_WARNING, on every start. Without material and without
 * --insecure it throws TlsMaterialError whose message says how to create certificates.
 */
export function resolveTlsMaterial(
  opts: TransportOptions,
  warn: (msg: string) => void,
  hint = "",
): TlsMaterial | null {
  if (opts.insecure) {
    warn(INSECURE_WARNING);
    return null;
  }
  return loadTlsMaterial(opts, hint);
}

/** gRPC server credentials: TLS with a client certificate REQUIRED and verified against the CA. */
export function serverCredentials(m: TlsMaterial | null): ServerCredentials {
  if (!m) return ServerCredentials.createInsecure();
  return ServerCredentials.createSsl(m.ca, [{ cert_chain: m.cert, private_key: m.key }], true);
}

/**
 * gRPC channel credentials: the server must present a certificate from the cluster CA for
 * the dialled host (and of `serverKind`, when given, so that a framework's certificate
 * cannot pose as the master); this process presents its own.
 */
export function channelCredentials(
  m: TlsMaterial | null,
  opts: { serverKind?: PrincipalKind } = {},
): ChannelCredentials {
  if (!m) return credentials.createInsecure();
  quietIpServerNameWarning();
  return credentials.createSsl(m.ca, m.key, m.cert, {
    checkServerIdentity: (host: string, cert: PeerCertificate) =>
      serverIdentityError(host, cert, opts.serverKind),
  });
}

let quieted = false;
/**
 * grpc-js sends the dialled host as TLS ServerName even when it is an IP literal (the usual
 * 127.0.0.1 or --advertise address), and Node then prints DEP0123 to the user's terminal.
 * Yard's servers ignore ServerName and the certificate check against the IP SAN is
 * unaffected, so that one warning is dropped; every other warning passes through.
 */
function quietIpServerNameWarning(): void {
  if (quieted) return;
  quieted = true;
  const emit = process.emitWarning.bind(process) as (...args: unknown[]) => void;
  process.emitWarning = ((...args: unknown[]) => {
    const code = typeof args[2] === "string" ? args[2] : (args[1] as { code?: string } | undefined)?.code;
    if (code === "DEP0123") return;
    emit(...args);
  }) as typeof process.emitWarning;
}

function serverIdentityError(
  host: string,
  cert: PeerCertificate,
  kind: PrincipalKind | undefined,
): Error | undefined {
  const err = checkServerIdentity(host, cert);
  if (err || !kind) return err;
  try {
    const p = principalFromCertificate(cert);
    if (p.kind !== kind)
      return new Error(`server certificate is a ${p.kind} certificate (${p.name}), expected a ${kind}`);
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

/**
 * Options of an HTTPS server: a client certificate is requested but not required at the
 * TLS layer (outside BitTorrent clients with a grant and Prometheus with a token have none);
 * handlers decide per endpoint, with principalFromTlsSocket.
 */
export function httpsServerOptions(m: TlsMaterial): SecureContextOptions & {
  requestCert: true;
  rejectUnauthorized: false;
} {
  return {
    ca: m.ca,
    cert: m.cert,
    key: m.key,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: "TLSv1.2",
  };
}

/** Options of an HTTPS client that trusts the cluster CA only, and presents this process's certificate. */
export function httpsClientOptions(m: TlsMaterial): { ca: Buffer; cert: Buffer; key: Buffer } {
  return { ca: m.ca, cert: m.cert, key: m.key };
}

/**
 * How a daemon or client was told to connect: TLS material, or an explicit `insecure: true`.
 * Neither is an error (chooseTransport): there is no silent plaintext.
 */
export interface TransportChoice {
  tls?: TlsMaterial;
  insecure?: boolean;
}

/** Thrown when neither TLS material nor `insecure: true` was given. */
export class NoTransportError extends Error {
  override readonly name = "NoTransportError";
  constructor(readonly who: string) {
    super(
      `${who}: no TLS material and not insecure; create certificates with "yardctl certs init" and "yardctl certs issue" and pass them (--tls-dir, or tls: in code), or pass --insecure (insecure: true) for development`,
    );
  }
}

/** The material `o` chose, or null for plaintext when it said `insecure: true`. */
export function chooseTransport(o: TransportChoice, who: string): TlsMaterial | null {
  if (o.tls) return o.tls;
  if (o.insecure === true) return null;
  throw new NoTransportError(who);
}

/** The URL scheme of the HTTP port for `m`. */
export function httpScheme(m: TlsMaterial | null): "https" | "http" {
  return m ? "https" : "http";
}
