// yardctl token create: mints a per-principal token for a script (CI, Prometheus). It prints
// the token once and the policy entry that holds only its sha256, for the master's --acl-file;
// nothing is sent anywhere, so minting needs no master and no credentials.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { sha256Hex } from "../../master/auth/authenticate.js";
import { UsageError } from "../errors.js";
import { collect, print } from "../options.js";

const KINDS = ["operator", "agent", "framework", "master"];
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]*$/;

/** A new token for `name` and its policy entry (YAML, under `tokens:`). Pure but for the randomness. */
export function mintToken(
  name: string,
  kind: string,
  groups: readonly string[],
): { token: string; entry: string } {
  if (!NAME.test(name))
    throw new UsageError(`NAME: "${name}" is not a principal name (letters, digits, . _ @ -)`);
  if (!KINDS.includes(kind)) throw new UsageError(`--kind: "${kind}" is not one of ${KINDS.join(", ")}`);
  for (const g of groups) if (!NAME.test(g)) throw new UsageError(`--group: "${g}" is not a group name`);
  // The prefix lets secret scanners recognise a leaked Yard token.
  const token = `yard_${randomBytes(32).toString("base64url")}`;
  const entry = [
    `  - name: ${name}`,
    `    kind: ${kind}`,
    `    groups: [${groups.join(", ")}]`,
    `    sha256: ${sha256Hex(token)}`,
  ].join("\n");
  return { token, entry };
}

export function registerToken(program: Command): void {
  const token = program.command("token").description("per-principal tokens for scripts (docs/security.md)");
  token
    .command("create <name>")
    .description(
      "mint a token: prints it once, and the policy entry (its sha256) for the master's --acl-file",
    )
    .option("--kind <kind>", "principal kind: operator, agent, framework (default operator)", "operator")
    .option("--group <group>", "group of the principal, repeatable (admin, deployer, viewer, ...)", collect)
    .option("--out <file>", "write the token to this file (mode 0600) instead of printing it")
    .action((name: string, flags: { kind: string; group?: string[]; out?: string }) => {
      const { token: secret, entry } = mintToken(name, flags.kind, flags.group ?? []);
      if (flags.out) {
        writeFileSync(flags.out, `${secret}\n`, { mode: 0o600, flag: "wx" });
        print(`token of ${name} written to ${flags.out} (mode 0600)`);
      } else {
        print(
          `token of ${name} (shown once; keep it in a file of mode 0600, pass it with --token or YARD_TOKEN):`,
        );
        print(secret);
      }
      print("");
      print("policy entry (add it under tokens: in the master's --acl-file, then restart the master):");
      print("tokens:");
      print(entry);
    });
}
