// Typed errors. Each class says when it is thrown; one place (toGrpcError) maps them
// to gRPC status codes and one place (cli/errors.ts) to CLI messages.
import { Metadata, status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";

export abstract class YardError extends Error {
  abstract readonly code: GrpcStatus;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A request field has a bad value; the message names the field and the value. */
export class InvalidArgumentError extends YardError {
  readonly code = GrpcStatus.INVALID_ARGUMENT;
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The request is well-formed but the cluster is not in a state that allows it. */
export class FailedPreconditionError extends YardError {
  readonly code = GrpcStatus.FAILED_PRECONDITION;
}

/**
 * An operator named a task by its bare id, and several frameworks have a task of that id (ids
 * are unique per framework only): the task must be named with its framework as well.
 */
export class AmbiguousTaskIdError extends FailedPreconditionError {
  constructor(
    readonly taskId: string,
    /** "fw-1 (name)" for each framework that has a task of this id. */
    readonly frameworks: readonly string[],
  ) {
    super(
      `task id ${taskId} is used by ${frameworks.length} frameworks: ${frameworks.join(", ")}; name the framework with --framework (framework_id)`,
    );
  }
}

/** A named object (offer, task, agent, framework) does not exist. */
export class NotFoundError extends YardError {
  readonly code = GrpcStatus.NOT_FOUND;
}

/** Creating something that already exists (task id, live agent id). */
export class AlreadyExistsError extends YardError {
  readonly code = GrpcStatus.ALREADY_EXISTS;
}

/** The caller proved who it is, but acts for someone else (another framework's id). */
export class PermissionDeniedError extends YardError {
  readonly code = GrpcStatus.PERMISSION_DENIED;
}

/** A peer this call needs (the master, for a framework) cannot be reached now; retry later. */
export class UnavailableError extends YardError {
  readonly code = GrpcStatus.UNAVAILABLE;
}

/** A position the caller asked for is past what is kept (an event index that left the window). */
export class OutOfRangeError extends YardError {
  readonly code = GrpcStatus.OUT_OF_RANGE;
}

/** The caller did not prove who it is. */
export class UnauthenticatedError extends YardError {
  readonly code = GrpcStatus.UNAUTHENTICATED;
}

export function toGrpcError(err: unknown): Partial<ServiceError> {
  if (err instanceof YardError) {
    return { code: err.code, details: err.message, message: err.message, metadata: new Metadata() };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: GrpcStatus.INTERNAL, details: message, message, metadata: new Metadata() };
}

/** Type guard for errors that come back from a gRPC call. */
export function isServiceError(err: unknown): err is ServiceError {
  return typeof err === "object" && err !== null && "code" in err && "details" in err;
}

export function errorMessage(err: unknown): string {
  if (isServiceError(err)) return err.details || err.message;
  return err instanceof Error ? err.message : String(err);
}
