// The certificates `yardctl up` needs, made on first start under <data dir>/tls: the cluster
// CA, the master (valid for the addresses it listens on), its agent, its two frameworks and
// an operator "admin" in group admin, which plain `yardctl` commands then use by default.
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { CA_CERT_FILE, initCaDir, type IssueRequest, issueIntoDir } from "../common/pki.js";

/** Identities of a `yardctl up` cluster; each file name is also the daemon's default --tls-name. */
export function upIdentities(masterSans: string[]): IssueRequest[] {
  return [
    { kind: "master", name: "master", sans: masterSans },
    { kind: "agent", name: "agent" },
    { kind: "framework", name: "batch" },
    { kind: "framework", name: "service" },
    { kind: "operator", name: "admin", groups: ["admin"] },
  ];
}

/** Extra names of the master's certificate: the listen address unless loopback, the advertised one. */
export function masterSans(host: string, advertiseHost: string | undefined): string[] {
  const sans = new Set<string>();
  const wildcard = host === "0.0.0.0" || host === "::";
  if (wildcard) sans.add(hostname());
  else if (host !== "127.0.0.1" && host !== "localhost") sans.add(host);
  if (advertiseHost) sans.add(advertiseHost);
  return [...sans];
}

/** Creates what is missing (the CA, then each identity's certificate); returns the files made. */
export function ensureUpCertificates(dir: string, identities: IssueRequest[]): string[] {
  const made: string[] = [];
  if (!existsSync(join(dir, CA_CERT_FILE))) {
    initCaDir(dir);
    made.push(join(dir, CA_CERT_FILE));
  }
  for (const id of identities) {
    if (existsSync(join(dir, `${id.name}.crt`))) continue;
    made.push(issueIntoDir(dir, id).certPath);
  }
  return made;
}
