// Which TLS material a daemon or yardctl runs with: flags > YARD_TLS_* env > config file >
// the TLS directory of the data dir (<data dir>/tls) and the identity's default name. Only
// --insecure (or `insecure: true` in the config) gives plaintext; the daemons warn on every
// start then. Without material and without it, the command stops and says how to make some.
import { join } from "node:path";
import type { Command } from "commander";
import { loadTlsMaterial, TlsMaterialError, type TransportChoice } from "../common/tls.js";
import { type Layers, resolveSettings } from "./config.js";
import { expandPath, resolveHome } from "./context.js";
import { CliError, ExitCode } from "./errors.js";

/** The TLS directory of a data dir: what `yardctl up` and `yardctl certs init` fill. */
export function tlsDirOf(home: string): string {
  return join(home, "tls");
}

/** --tls-dir, --tls-name, --tls-ca, --tls-cert, --tls-key, --insecure. `name` is the default identity. */
export function addTlsOptions(cmd: Command, name: string): Command {
  return cmd
    .option(
      "--tls-dir <dir>",
      "directory with ca.crt and this identity's <name>.crt/.key (env YARD_TLS_DIR; default <data dir>/tls)",
    )
    .option(
      "--tls-name <name>",
      `identity (file name) in the TLS directory (env YARD_TLS_NAME; default ${name})`,
    )
    .option(
      "--tls-ca <file>",
      "the cluster CA certificate, instead of the one in --tls-dir (env YARD_TLS_CA)",
    )
    .option("--tls-cert <file>", "this identity's certificate, instead of --tls-dir (env YARD_TLS_CERT)")
    .option(
      "--tls-key <file>",
      "this identity's private key, mode 0600, instead of --tls-dir (env YARD_TLS_KEY)",
    )
    .option(
      "--insecure",
      "plaintext, no certificates: development on one trusted host only; warned on every start (env YARD_INSECURE)",
    );
}

/**
 * The transport for identity `name` (master, agent, batch, service, admin, ...). `kind` only
 * shapes the message that says how to issue a missing certificate.
 */
export function resolveTransport(layers: Layers, name: string, kind: string): TransportChoice {
  const s = resolveSettings(["insecure", "tlsDir", "tlsName", "tlsCa", "tlsCert", "tlsKey"], layers);
  if (s.insecure) return { insecure: true };
  const dir = expandPath(s.tlsDir ?? tlsDirOf(resolveHome(layers)));
  const identity = s.tlsName ?? name;
  const path = (f: string | undefined) => (f === undefined ? undefined : expandPath(f));
  const hint =
    `Create certificates with "yardctl certs init --dir ${dir}" and ` +
    `"yardctl certs issue --dir ${dir} --kind ${kind} --name ${identity}" (yardctl up does both), ` +
    "or pass --insecure for development.";
  try {
    return {
      tls: loadTlsMaterial(
        { dir, name: identity, ca: path(s.tlsCa), cert: path(s.tlsCert), key: path(s.tlsKey) },
        hint,
      ),
    };
  } catch (err) {
    if (err instanceof TlsMaterialError) throw new CliError(err.message, ExitCode.USAGE, { cause: err });
    throw err;
  }
}
