// Shared-secret authentication for agents, frameworks and operators. When the master
// runs with a token, every call must carry `authorization: Bearer <token>` metadata.
// (Later: per-principal tokens, then mTLS; the seam is this file.)
import { timingSafeEqual } from "node:crypto";
import { Metadata } from "@grpc/grpc-js";
import { UnauthenticatedError } from "./errors.js";

export function authMetadata(token: string | undefined, session?: string): Metadata {
  const md = new Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  if (session) md.set(SESSION_HEADER, session);
  return md;
}

/** Metadata that carries a framework's subscription secret (see Subscribed.session). */
export const SESSION_HEADER = "yard-session";

export function sessionOf(metadata: Metadata): string {
  const v = metadata.get(SESSION_HEADER)[0];
  return typeof v === "string" ? v : "";
}

/** Compares secrets in constant time. */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Throws UnauthenticatedError unless `metadata` carries `expected` (no-op when no token is configured). */
export function checkToken(expected: string | undefined, metadata: Metadata): void {
  if (!expected) return;
  const header = metadata.get("authorization")[0];
  const given = typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7) : "";
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new UnauthenticatedError("missing or wrong token (pass --token or set YARD_TOKEN)");
  }
}
