// Typed errors of the framework SDK. Each class says when it is thrown; gRPC errors from
// the master are turned into them in one place (toSchedulerCallError), recognised by a
// type guard over `unknown`.
import { status as GrpcStatus } from "@grpc/grpc-js";
import { isServiceError } from "../common/errors.js";

export { GrpcStatus };

/** Base of every error the SDK throws or emits, so that callers can tell them apart. */
export abstract class FrameworkSdkError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A call to the master failed (or the master ended the event stream with an error).
 * `code` is the gRPC status code, `details` the master's own message (which names the
 * offending field for INVALID_ARGUMENT), `method` the SchedulerService method.
 */
export class SchedulerCallError extends FrameworkSdkError {
  constructor(
    readonly method: string,
    readonly code: GrpcStatus,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`${method} failed: ${details || "no details"} (${GrpcStatus[code] ?? code})`, options);
  }

  /** The stable name of the status code, e.g. "NOT_FOUND". */
  get codeName(): string {
    return GrpcStatus[this.code] ?? String(this.code);
  }
}

/**
 * The master does not know the framework id the driver re-subscribed with: the framework
 * was torn down, or it stayed away longer than its failover timeout and the master killed
 * its tasks and removed it. The driver stops retrying; a framework that wants to go on must
 * subscribe anew without the id (and treat its old tasks as gone).
 */
export class FrameworkRemovedError extends FrameworkSdkError {
  constructor(
    readonly frameworkId: string,
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    super(`framework ${frameworkId} is unknown to the master: ${details || "removed"}`, options);
  }
}

/** A call needs a framework id and the driver has not been subscribed yet. */
export class NotSubscribedError extends FrameworkSdkError {
  constructor(readonly method: string) {
    super(`${method}: the driver is not subscribed (call start() and wait for it)`);
  }
}

/** The driver was stopped while the call or start() waited. */
export class DriverStoppedError extends FrameworkSdkError {
  constructor(what: string) {
    super(`${what}: the driver was stopped`);
  }
}

/** An argument given to an SDK helper has a bad value; the message names the field and the value. */
export class SdkArgumentError extends FrameworkSdkError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Maps anything a gRPC call rejected with to a SchedulerCallError (idempotent). */
export function toSchedulerCallError(method: string, err: unknown): SchedulerCallError {
  if (err instanceof SchedulerCallError) return err;
  if (isServiceError(err)) {
    return new SchedulerCallError(method, err.code, err.details || err.message, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SchedulerCallError(method, GrpcStatus.UNKNOWN, message, { cause: err });
}

/** True for a SchedulerCallError (or raw gRPC error) with the given status code. */
export function hasCode(err: unknown, code: GrpcStatus): boolean {
  if (err instanceof SchedulerCallError) return err.code === code;
  return isServiceError(err) && err.code === code;
}
