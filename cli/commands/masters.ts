// The masters `yardctl get masters` asks: each master's address, role and term. Every master answers GetMasters,
// standbys too, so the first master of the list that answers is enough; one that cannot be
// reached is skipped, any other refusal (token, policy) is final.
import type { GetMastersResponse } from "../../proto/gen/yard/v1/operator.js";
import { type ClientTarget, OperatorClient } from "../clients.js";
import { CliError, ExitCode } from "../errors.js";

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
