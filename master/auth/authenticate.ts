// Who is calling: turns what a caller presented (a verified client certificate, a bearer
// token, or nothing) into a Principal. Per-principal tokens are looked up by their sha256, so
// the policy never holds a usable secret; the legacy cluster token is one admin principal.
import { createHash, X509Certificate } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import { sameSecret } from "../../common/auth.js";
import { UnauthenticatedError } from "../../common/errors.js";
import { type Principal, principalFromCertificate } from "../../common/principal.js";
import type { Policy } from "./policy.js";

/** What a caller presented. `certificate` is DER. */
export interface Credentials {
  bearer?: string;
  certificate?: Buffer;
  /** The certificate was verified by the TLS handshake (else it must be checked against the CA). */
  certificateVerified?: boolean;
}

export interface AuthenticatorInit {
  policy: Policy;
  /** The legacy shared cluster token (--token), if the master has one. */
  clusterToken?: string;
  /**
   * The cluster CA, to verify certificates that did not come through this master's own TLS
   * handshake (ReviewAccess: a framework forwards its caller's certificate).
   */
  ca?: X509Certificate;
  /**
   * No TLS, no cluster token and no policy file: a development master. Callers without
   * credentials are then the principal "anonymous" in group admin (docs/security.md).
   */
  open: boolean;
}

export const ANONYMOUS: Principal = {
  name: "anonymous",
  kind: "operator",
  groups: ["admin"],
  via: "insecure",
};
export const CLUSTER_TOKEN_PRINCIPAL: Principal = {
  name: "cluster-token",
  kind: "operator",
  groups: ["admin"],
  via: "token",
};

export function sha256Hex(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** The bearer token of gRPC metadata (`authorization: Bearer <token>`), if any. */
export function bearerOf(metadata: Metadata): string | undefined {
  return bearerOfHeader(metadata.get("authorization")[0]);
}

/** The bearer token of an `authorization` header value, if any. */
export function bearerOfHeader(header: unknown): string | undefined {
  return typeof header === "string" && header.startsWith("Bearer ") && header.length > 7
    ? header.slice(7)
    : undefined;
}

export class Authenticator {
  private readonly byHash = new Map<string, Principal>();
  /** Parsed certificates by their DER (base64): parsing one per call would cost every Accept. */
  private readonly certCache = new Map<string, Principal>();

  constructor(private readonly init: AuthenticatorInit) {
    for (const t of init.policy.tokens)
      this.byHash.set(t.sha256, { name: t.name, kind: t.kind, groups: [...t.groups], via: "token" });
  }

  /** The principal that `c` proves, or UnauthenticatedError naming what is wrong. */
  authenticate(c: Credentials): Principal {
    // A token is more specific than a certificate: a script may share a host's certificate
    // but holds its own token.
    if (c.bearer) return this.fromToken(c.bearer);
    if (c.certificate) return this.fromCertificate(c.certificate, c.certificateVerified === true);
    if (this.init.open) return ANONYMOUS;
    throw new UnauthenticatedError(
      "no credentials: present a client certificate or a token (pass --token or set YARD_TOKEN)",
    );
  }

  private fromToken(token: string): Principal {
    const p = this.byHash.get(sha256Hex(token));
    if (p) return p;
    if (this.init.clusterToken && sameSecret(token, this.init.clusterToken)) {
      if (this.init.policy.clusterToken === "deny")
        throw new UnauthenticatedError("the cluster token is disabled by the policy (clusterToken: deny)");
      return CLUSTER_TOKEN_PRINCIPAL;
    }
    throw new UnauthenticatedError("missing or wrong token (pass --token or set YARD_TOKEN)");
  }

  private fromCertificate(der: Buffer, verified: boolean): Principal {
    const key = der.toString("base64");
    const cached = this.certCache.get(key);
    if (cached && verified) return cached;
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(der);
    } catch (err) {
      throw new UnauthenticatedError(`unreadable client certificate: ${(err as Error).message}`);
    }
    if (!verified) this.verifyAgainstCa(x509);
    let p: Principal;
    try {
      p = principalFromCertificate(x509);
    } catch (err) {
      throw new UnauthenticatedError(`client certificate: ${(err as Error).message}`);
    }
    if (verified) {
      if (this.certCache.size >= 1_000) this.certCache.clear();
      this.certCache.set(key, p);
    }
    return p;
  }

  private verifyAgainstCa(x509: X509Certificate): void {
    const ca = this.init.ca;
    if (!ca)
      throw new UnauthenticatedError("this master has no cluster CA to verify a forwarded certificate");
    const t = Date.now();
    if (!x509.checkIssued(ca) || !x509.verify(ca.publicKey))
      throw new UnauthenticatedError("client certificate was not issued by the cluster CA");
    if (t < Date.parse(x509.validFrom) || t > Date.parse(x509.validTo))
      throw new UnauthenticatedError(
        `client certificate is not valid now (valid ${x509.validFrom} to ${x509.validTo})`,
      );
  }
}
