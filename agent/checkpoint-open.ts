// Opening the agent's checkpoint on a full disk. SQLite needs room for the WAL's shared-memory
// index to open the database at all (SQLITE_IOERR_SHMSIZE otherwise), so an agent killed while
// a fetch was filling its disk would never start again: its own partial file would hold the
// space. Partial fetches are the agent's to drop (the master sends the fetch again, and it is
// then checked against the free space first), so they go, and the open is tried once more.
// When even that fails, the error says what is free, for the operator to act on.
import { errorMessage, FailedPreconditionError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { Checkpoint } from "./checkpoint.js";
import { isDiskWriteError } from "./disk-pressure.js";
import { diskSpace, formatMiB } from "./disk-space.js";
import { ArtifactCache } from "./fetcher/artifact-cache.js";

export function openCheckpoint(
  dataDir: string,
  cacheDir: string,
  log: Logger,
  opts: { inMemory?: boolean } = {},
): Checkpoint {
  let failure: unknown;
  try {
    return new Checkpoint(dataDir, opts);
  } catch (err) {
    if (!isDiskWriteError(err)) throw err;
    failure = err;
  }
  if (removePartialFetches(cacheDir, log) > 0) {
    try {
      return new Checkpoint(dataDir, opts);
    } catch (err) {
      if (!isDiskWriteError(err)) throw err;
      failure = err;
    }
  }
  const d = diskSpace(dataDir);
  throw new FailedPreconditionError(
    `the agent's checkpoint in ${dataDir} cannot be opened (${errorMessage(failure)}): ` +
      `${formatMiB(d.freeBytes)} of ${formatMiB(d.totalBytes)} free on its disk; free some space and start the agent again`,
  );
}

/** Removes the cache entries not verified (fetches cut short); returns how many. */
function removePartialFetches(cacheDir: string, log: Logger): number {
  let removed = 0;
  try {
    const cache = new ArtifactCache(cacheDir, log);
    for (const e of cache.load()) {
      if (e.verified) continue;
      log.warn("disk full at start: removing a partial fetch to make room for the checkpoint", {
        release: e.release,
      });
      cache.remove(e.release);
      removed++;
    }
  } catch (err) {
    log.warn("cannot look for partial fetches", { dir: cacheDir, err });
  }
  return removed;
}
