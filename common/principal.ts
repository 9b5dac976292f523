// Who is calling: the identity a verified client certificate (or a token) stands for.
// The certificate layout is the cluster's identity contract: subject CN = principal name,
// OU = kind, one O attribute per group (as Kubernetes client certificates carry groups).
import type { X509Certificate } from "node:crypto";
import type { PeerCertificate, TLSSocket } from "node:tls";

export const PRINCIPAL_KINDS = ["master", "agent", "framework", "operator"] as const;
export type PrincipalKind = (typeof PRINCIPAL_KINDS)[number];

export interface Principal {
  name: string;
  kind: PrincipalKind;
  groups: string[];
  /** How the identity was established: a verified certificate, a token, or nothing (--insecure). */
  via: "certificate" | "token" | "insecure";
}

export function isPrincipalKind(s: string): s is PrincipalKind {
  return (PRINCIPAL_KINDS as readonly string[]).includes(s);
}

/** Thrown when a certificate verified by the CA does not carry a usable identity. */
export class InvalidIdentityError extends Error {
  override readonly name = "InvalidIdentityError";
  constructor(
    readonly field: "CN" | "OU",
    readonly value: string,
  ) {
    super(
      field === "CN"
        ? "certificate has no subject CN (the principal name)"
        : `certificate subject OU ${JSON.stringify(value)} is not a principal kind (${PRINCIPAL_KINDS.join(", ")})`,
    );
  }
}

/**
 * The principal a certificate names. Takes Node's parsed peer certificate (what
 * `tlsSocket.getPeerCertificate()` and grpc-js's `call.getAuthContext().sslPeerCertificate`
 * give) or a `crypto.X509Certificate`. The caller must only pass certificates the TLS layer
 * verified against the cluster CA: this function reads names, it proves nothing.
 * Throws InvalidIdentityError when CN is missing or OU is not a kind.
 */
export function principalFromCertificate(cert: PeerCertificate | X509Certificate): Principal {
  const subject = subjectAttributes(cert);
  const name = subject.get("CN")?.[0] ?? "";
  if (!name) throw new InvalidIdentityError("CN", "");
  const ou = subject.get("OU") ?? [];
  // Exactly one OU: a certificate that claims two kinds is refused rather than guessed at.
  const kind = ou.length === 1 ? ou[0] : ou.join(",");
  if (!isPrincipalKind(kind)) throw new InvalidIdentityError("OU", kind);
  return { name, kind, groups: [...(subject.get("O") ?? [])], via: "certificate" };
}

/**
 * The principal of a TLS connection whose client certificate verified against the CA, or
 * null when the client sent none or it failed verification (servers that request but do
 * not require a certificate, such as the HTTPS port, use this).
 */
export function principalFromTlsSocket(socket: TLSSocket): Principal | null {
  if (!socket.authorized) return null;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return null;
  try {
    return principalFromCertificate(cert);
  } catch {
    return null;
  }
}

/** The principal every caller is when the daemon runs with --insecure. */
export function insecurePrincipal(): Principal {
  return { name: "anonymous", kind: "operator", groups: [], via: "insecure" };
}

function subjectAttributes(cert: PeerCertificate | X509Certificate): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (k: string, v: string) => out.set(k, [...(out.get(k) ?? []), v]);
  const subject = (cert as { subject: unknown }).subject;
  if (typeof subject === "string") {
    // X509Certificate: one "KEY=value" per line. Node escapes special characters in values.
    for (const line of subject.split("\n")) {
      const eq = line.indexOf("=");
      if (eq > 0) add(line.slice(0, eq), line.slice(eq + 1));
    }
  } else if (subject && typeof subject === "object") {
    // PeerCertificate: a repeated attribute (several O) is an array.
    for (const [k, v] of Object.entries(subject as Record<string, string | string[]>)) {
      for (const one of Array.isArray(v) ? v : [v]) add(k, one);
    }
  }
  return out;
}
