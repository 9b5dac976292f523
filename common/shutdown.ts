// Stopping a daemon within its grace period. grpc-js's tryShutdown waits for every open call
// to end, and a watcher or a log follower never ends by itself, so a stop that awaits it can
// hang for as long as a client stays connected: a daemon asked to stop (SIGTERM) must be gone
// by its grace period, or the operator's supervisor kills it in the middle of a write.
import type { Server } from "@grpc/grpc-js";
import type { Logger } from "./logger.js";

/** Default grace period of a daemon's stop(). */
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * Stops `server` from taking calls, lets the open ones finish for up to `graceMs`, then cuts
 * those still open. Resolves true when every call finished by itself.
 */
export async function shutdownServer(server: Server, graceMs: number): Promise<boolean> {
  const clean = await within(
    new Promise<true>((resolve) => server.tryShutdown(() => resolve(true))),
    graceMs,
  );
  if (!clean) server.forceShutdown();
  return clean === true;
}

/**
 * `work`'s value, or undefined once `ms` passed (then `work` is left to finish or not on its
 * own). For a shutdown step that must not hold the rest up.
 */
export async function within<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one shutdown step with a time limit; a step that fails or is late is logged, not thrown. */
export async function stopStep(
  log: Logger,
  what: string,
  step: () => Promise<unknown> | unknown,
  ms: number,
): Promise<void> {
  const started = Date.now();
  try {
    const done = await within(
      Promise.resolve()
        .then(step)
        .then(() => true),
      ms,
    );
    if (!done) log.warn(`${what} did not finish within ${ms} ms; going on`);
  } catch (err) {
    log.warn(`${what} failed during shutdown`, {
      err,
      ms: Date.now() - started,
    });
  }
}
