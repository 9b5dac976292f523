// A spec may only name a release the master stores, sound: Apply asks the master before it
// records anything, so that a typo in `release:` is an error at apply time rather than a
// deployment whose launches fail forever (docs/service-framework.md).
import { FailedPreconditionError, InvalidArgumentError } from "../../common/errors.js";
import type { StoredReleaseInfo } from "../../framework-sdk/index.js";
import { parseAppSpec } from "./app-spec.js";

/** The master's record of a release; undefined when it stores none. Rejects when it cannot tell. */
export type ReleaseLookup = (release: string) => Promise<StoredReleaseInfo | undefined>;

/**
 * Throws InvalidArgumentError (field `release`) when the spec names a release the master
 * does not store or holds corrupt; FailedPreconditionError when the master cannot be asked.
 * A spec that does not parse passes: Apply reports its problems, all of them, itself.
 */
export async function requireSpecRelease(specYaml: string, lookup: ReleaseLookup): Promise<void> {
  let release: string;
  try {
    release = parseAppSpec(specYaml).release;
  } catch {
    return;
  }
  if (!release) return;
  let found: StoredReleaseInfo | undefined;
  try {
    found = await lookup(release);
  } catch (err) {
    throw new FailedPreconditionError(
      `release: cannot check that ${release} is stored on the master: ${err instanceof Error ? err.message : String(err)}; the spec was not applied, try again`,
    );
  }
  if (!found) {
    throw new InvalidArgumentError(
      "release",
      `${release} is not stored on the master; push it first (yardctl release push ${release} PATH)`,
    );
  }
  if (found.corrupt) {
    throw new InvalidArgumentError(
      "release",
      `${release} is corrupt on the master (${found.corruptMessage}); push it again to repair it`,
    );
  }
}
