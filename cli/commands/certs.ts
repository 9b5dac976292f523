// yardctl certs init | issue: the cluster CA and the certificates of masters, agents,
// frameworks and operators (docs/security.md). Files: ca.crt, ca.key (0600), and
// <name>.crt / <name>.key (0600) per identity, in one TLS directory.
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import {
  CA_CERT_FILE,
  CaFileError,
  DEFAULT_CERT_DAYS,
  InvalidCertificateRequestError,
  initCaDir,
  issueIntoDir,
  type IssueRequest,
} from "../../common/pki.js";
import { isPrincipalKind, PRINCIPAL_KINDS } from "../../common/principal.js";
import { parseFlag } from "../config.js";
import { expandPath, loadLayers, resolveHome } from "../context.js";
import { CliError, ExitCode, UsageError } from "../errors.js";
import { collect, print } from "../options.js";
import * as p from "../parse.js";
import { tlsDirOf } from "../transport.js";

function dirOf(flags: Record<string, unknown>): string {
  return typeof flags.dir === "string" ? expandPath(flags.dir) : tlsDirOf(resolveHome(loadLayers(flags)));
}

/** Runs a PKI step, turning its typed errors into one line naming the field or file. */
function pki<T>(step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof InvalidCertificateRequestError) throw new UsageError(`--${err.message}`);
    if (err instanceof CaFileError) throw new CliError(err.message, ExitCode.FAILURE);
    throw err;
  }
}

export function registerCerts(program: Command): void {
  const certs = program
    .command("certs")
    .description(
      "create the cluster CA and issue certificates for masters, agents, frameworks and operators",
    );

  certs
    .command("init")
    .description("create the cluster CA (ca.crt, ca.key) in the TLS directory")
    .option("--dir <dir>", "TLS directory (default <data dir>/tls)")
    .option("--data-dir <dir>", "data dir whose tls/ to use (env YARD_HOME; default ~/.yard)")
    .option("--days <n>", "CA validity in days (default 3650)")
    .action((flags: Record<string, unknown>) => {
      const dir = dirOf(flags);
      const days = flags.days === undefined ? undefined : parseFlag(p.positiveInt, flags.days, "--days");
      pki(() => initCaDir(dir, { days }));
      print(
        `created the cluster CA in ${dir} (keep ${join(dir, "ca.key")} on the machine that issues certificates only)`,
      );
    });

  certs
    .command("issue")
    .description("issue a certificate signed by the cluster CA: <name>.crt and <name>.key (0600)")
    .requiredOption("--kind <kind>", `principal kind: ${PRINCIPAL_KINDS.join(", ")}`)
    .requiredOption("--name <name>", "principal name (certificate CN; also the file name)")
    .option("--group <group>", "group (certificate O), repeatable, e.g. admin, deployer, viewer", collect)
    .option("--san <host>", "extra DNS name or IP the certificate is valid for, repeatable", collect)
    .option("--days <n>", `validity in days (default ${DEFAULT_CERT_DAYS})`)
    .option("--dir <dir>", "TLS directory holding the CA (default <data dir>/tls)")
    .option(
      "--out <dir>",
      "write the certificate, its key and ca.crt here instead (e.g. to ship to another host)",
    )
    .option("--data-dir <dir>", "data dir whose tls/ to use (env YARD_HOME; default ~/.yard)")
    .action((flags: Record<string, unknown>) => {
      const dir = dirOf(flags);
      const kind = String(flags.kind);
      if (!isPrincipalKind(kind)) {
        throw new UsageError(`--kind ${JSON.stringify(kind)}: must be one of ${PRINCIPAL_KINDS.join(", ")}`);
      }
      const req: IssueRequest = {
        kind,
        name: String(flags.name),
        groups: (flags.group as string[] | undefined) ?? [],
        sans: (flags.san as string[] | undefined) ?? [],
        days: flags.days === undefined ? undefined : parseFlag(p.positiveInt, flags.days, "--days"),
      };
      const out = typeof flags.out === "string" ? expandPath(flags.out) : dir;
      if (existsSync(join(out, `${req.name}.crt`))) {
        throw new CliError(
          `${join(out, `${req.name}.crt`)} already exists; remove it (and its .key) to issue a new one`,
          ExitCode.FAILURE,
        );
      }
      const { certPath, keyPath } = pki(() => issueIntoDir(dir, req, out));
      print(`issued ${kind} certificate ${certPath} (key ${keyPath}, CA ${join(out, CA_CERT_FILE)})`);
    });
}
