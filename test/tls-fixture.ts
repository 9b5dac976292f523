// One cluster CA per test process: a temporary TLS directory with the certificates tests
// need, issued on first use and removed when the process exits. Daemons in tests run over
// mTLS with these, as in production; a test that needs plaintext passes --insecure itself.
//   in-process:  startMaster({ ...tlsOf("master") }), new SchedulerDriver({ ...tlsOf("framework") })
//   spawned:     env { ...tlsEnv() } (yardctl daemons find master/agent/batch/service.crt by name)
//   clients:     operatorCredentials() (admin, group admin), agentCredentials()
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChannelCredentials, ServerCredentials } from "@grpc/grpc-js";
import { initCaDir, issueIntoDir } from "../common/pki.js";
import type { PrincipalKind } from "../common/principal.js";
import { channelCredentials, serverCredentials, type TlsMaterial } from "../common/tls.js";

let dir: string | undefined;

/**
 * Child processes of a benchmark share their parent's directory through this variable
 * (the parent issues every certificate first; children only read).
 */
const SHARED_DIR_ENV = "YARD_TEST_TLS_DIR";

/** The test process's TLS directory (ca.crt, ca.key, <name>.crt/.key). */
export function testTlsDir(): string {
  if (!dir && process.env[SHARED_DIR_ENV]) dir = process.env[SHARED_DIR_ENV];
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), "yard-test-tls-"));
    initCaDir(made);
    process.once("exit", () => rmSync(made, { recursive: true, force: true }));
    dir = made;
    process.env[SHARED_DIR_ENV] = made;
  }
  return dir;
}

/** The kind and groups of the identities tests use by name. */
const IDENTITIES: Record<string, { kind: PrincipalKind; groups?: string[] }> = {
  master: { kind: "master" },
  agent: { kind: "agent" },
  framework: { kind: "framework" },
  batch: { kind: "framework" },
  service: { kind: "framework" },
  admin: { kind: "operator", groups: ["admin"] },
};

const cache = new Map<string, TlsMaterial>();

/** Material of identity `name` (issued on first use); unknown names get `kind`, `groups` and `sans`. */
export function tlsMaterial(
  name: string,
  kind?: PrincipalKind,
  groups?: string[],
  sans?: string[],
): TlsMaterial {
  const hit = cache.get(name);
  if (hit) return hit;
  const d = testTlsDir();
  const id = IDENTITIES[name] ?? { kind: kind ?? "operator", groups };
  if (!existsSync(join(d, `${name}.crt`))) issueIntoDir(d, { kind: id.kind, name, groups: id.groups, sans });
  const m = {
    ca: readFileSync(join(d, "ca.crt")),
    cert: readFileSync(join(d, `${name}.crt`)),
    key: readFileSync(join(d, `${name}.key`)),
  };
  cache.set(name, m);
  return m;
}

/** `{ tls }` for daemon and SDK options. */
export function tlsOf(name: string): { tls: TlsMaterial } {
  return { tls: tlsMaterial(name) };
}

/**
 * Env for spawned yardctl processes: daemons and commands find their certificate in the
 * test TLS directory under their default name (master, agent, batch, service, admin).
 */
export function tlsEnv(): Record<string, string> {
  for (const name of Object.keys(IDENTITIES)) tlsMaterial(name);
  return { YARD_TLS_DIR: testTlsDir() };
}

/** An operator (admin) client's credentials towards a master, or a framework's API. */
export function operatorCredentials(serverKind: PrincipalKind = "master"): ChannelCredentials {
  return channelCredentials(tlsMaterial("admin"), { serverKind });
}

/** An agent's credentials towards the master. */
export function agentCredentials(): ChannelCredentials {
  return channelCredentials(tlsMaterial("agent"), { serverKind: "master" });
}

/** A framework's credentials towards the master. */
export function frameworkCredentials(): ChannelCredentials {
  return channelCredentials(tlsMaterial("framework"), { serverKind: "master" });
}

/** Server credentials of a fake master. */
export function masterServerCredentials(): ServerCredentials {
  return serverCredentials(tlsMaterial("master"));
}
