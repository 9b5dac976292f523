// yardctl get masters: each master's address, role and term. Every master answers GetMasters,
// standbys too, so the first master of the list that answers is enough; one that cannot be
// reached is skipped, any other refusal (token, policy) is final.
import { GetMastersResponse } from "../../proto/gen/yard/v1/operator.js";
import { type ClientTarget, OperatorClient } from "../clients.js";
import { CliError, ExitCode } from "../errors.js";
import { print } from "../options.js";
import { mastersTable } from "../views.js";

/** The first answer of the masters in `addresses`, in order. */
export async function firstMastersAnswer(
  target: ClientTarget,
  addresses: readonly string[],
): Promise<GetMastersResponse> {
  let last: unknown;
  for (const address of addresses) {
    const client = new OperatorClient({ ...target, address });
    try {
      return await client.getMasters();
    } catch (err) {
      if (!(err instanceof CliError) || err.exitCode !== ExitCode.UNREACHABLE) throw err;
      last = err;
    } finally {
      client.close();
    }
  }
  if (addresses.length > 1) {
    throw new CliError(
      `cannot reach any master of ${addresses.join(",")} (is one running?)`,
      ExitCode.UNREACHABLE,
      { cause: last },
    );
  }
  throw last;
}

export async function getMasters(
  target: ClientTarget,
  addresses: readonly string[],
  output: string,
): Promise<void> {
  const res = await firstMastersAnswer(target, addresses);
  if (output === "json") print(JSON.stringify(GetMastersResponse.toJSON(res), null, 2));
  else print(mastersTable(res, Date.now() / 1000));
}
