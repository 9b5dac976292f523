// A TLS directory made by `yardctl certs init` and `certs issue` of a Yard that made RSA-2048
// keys with node-forge (committed under test/fixtures/rsa-ca, valid until 2126): ca.crt,
// ca.key (PKCS#1 "RSA PRIVATE KEY") and legacy-admin.crt/.key (operator, group admin).
import { chmodSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/rsa-ca", import.meta.url));

/** A fresh copy of the directory, keys 0600 as yardctl wrote them (git keeps no modes), removed at exit. */
export function rsaCaDirCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), "yard-rsa-ca-"));
  cpSync(FIXTURE, dir, { recursive: true });
  for (const f of ["ca.key", "legacy-admin.key"]) chmodSync(join(dir, f), 0o600);
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
