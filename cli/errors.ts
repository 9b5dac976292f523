// The one place where a failure becomes what the operator sees: ONE line on stderr and an
// exit code that scripts can match on (documented in docs/yardctl.md). Commands throw;
// yardctl.ts catches, calls describeFailure and exits. No stack trace reaches the terminal.
import { leaderHint } from "../common/leader-redirect.js";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { errorMessage, isServiceError, YardError } from "../common/errors.js";
import { describeSystemError, errnoCode } from "./errno-text.js";

/** Exit codes of yardctl. `run` also exits with the task's own exit code. */
export const ExitCode = {
  OK: 0,
  /** Anything else: a task that failed, was killed or lost; a port in use; a refused request. */
  FAILURE: 1,
  /** Bad flags or values, requests refused as INVALID_ARGUMENT, and requests over a size limit (RESOURCE_EXHAUSTED). */
  USAGE: 2,
  /** The master (or the batch framework) could not be reached. */
  UNREACHABLE: 3,
  /** An id that names nothing: task, agent, framework, job. */
  NOT_FOUND: 4,
  /** The master refused the token. */
  UNAUTHENTICATED: 5,
  /** The policy does not let this principal do that (PERMISSION_DENIED; docs/security.md). */
  PERMISSION_DENIED: 6,
  /** Stopped by Ctrl-C before it finished (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

/** A failure already phrased for the operator, with the exit code to leave with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.FAILURE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A flag, env var or config value is wrong; the message names it and the value. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.USAGE);
  }
}

/** A peer of yardctl: what to call it in messages and where it was dialled. */
export interface Peer {
  /** "the master", "the batch framework" */
  what: string;
  address: string;
}

const HINTS: Record<string, string> = {
  "the master": ' (is it running? start one with "yardctl up")',
  "the batch framework": ' (is it running? start it with "yardctl up" or "yardctl batch")',
};

/**
 * Phrases a gRPC error from a call to `peer`. Errors that are not gRPC errors pass through
 * unchanged. Called by the client wrappers, which know whom they dialled.
 */
export function fromGrpcError(err: unknown, peer: Peer): unknown {
  if (!isServiceError(err)) return err;
  const detail = errorMessage(err);
  switch (err.code) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
      // Masters that answer but none of which leads (an election under way past the deadline).
      if (leaderHint(err).notLeader) {
        return new CliError(
          `no leader among ${peer.what} at ${peer.address}: ${detail}`,
          ExitCode.UNREACHABLE,
          {
            cause: err,
          },
        );
      }
      return new CliError(
        `cannot reach ${peer.what} at ${peer.address}${HINTS[peer.what] ?? ""}`,
        ExitCode.UNREACHABLE,
        { cause: err },
      );
    case GrpcStatus.UNAUTHENTICATED:
      return new CliError(
        `${peer.what} at ${peer.address} refused the token: ${detail}${/--token/.test(detail) ? "" : " (pass --token or set YARD_TOKEN)"}`,
        ExitCode.UNAUTHENTICATED,
        { cause: err },
      );
    case GrpcStatus.PERMISSION_DENIED:
      return new CliError(`permission denied by ${peer.what}: ${detail}`, ExitCode.PERMISSION_DENIED, {
        cause: err,
      });
    case GrpcStatus.NOT_FOUND:
      return new CliError(detail, ExitCode.NOT_FOUND, { cause: err });
    case GrpcStatus.INVALID_ARGUMENT:
      return new CliError(detail, ExitCode.USAGE, { cause: err });
    case GrpcStatus.RESOURCE_EXHAUSTED:
      // A stream whose reader fell too far behind (common/stream-writer.ts): not the input.
      if (/too slow/.test(detail)) {
        return new CliError(`${peer.what} at ${peer.address} ended the stream: ${detail}`, ExitCode.FAILURE, {
          cause: err,
        });
      }
      // A message over a gRPC size limit (docs/protocol.md, "Limits"): the peer is up, the
      // input is too big, so this is the operator's to fix, like a bad value.
      return new CliError(
        `${peer.what} at ${peer.address} refused the request as too large: ${detail}`,
        ExitCode.USAGE,
        { cause: err },
      );
    default:
      return new CliError(detail, ExitCode.FAILURE, { cause: err });
  }
}

/** Turns a NOT_FOUND from `p` into `<kind> "<id>" not found` (exit 4). */
export async function expectFound<T>(kind: string, id: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.NOT_FOUND) {
      throw new CliError(`${kind} "${id}" not found`, ExitCode.NOT_FOUND, { cause: err });
    }
    if (isServiceError(err) && err.code === GrpcStatus.NOT_FOUND) {
      throw new CliError(`${kind} "${id}" not found`, ExitCode.NOT_FOUND, { cause: err });
    }
    throw err;
  }
}

/** The line (without the "yardctl: " prefix) and exit code for any failure. */
export function describeFailure(err: unknown): { line: string; exitCode: number } {
  if (err instanceof CliError) return { line: oneLine(err.message), exitCode: err.exitCode };
  const message = errorMessage(err);
  // A system error (a file that cannot be read or written, a port taken): a sentence and
  // the path or address, not Node's "EACCES: permission denied, open '...'".
  if (errnoCode(err)) return { line: oneLine(describeSystemError(err)), exitCode: ExitCode.FAILURE };
  if (/EADDRINUSE|address already in use/i.test(message)) {
    return {
      line: oneLine(
        `address already in use: ${message.replace(/^.*EADDRINUSE:?\s*(address already in use)?\s*/i, "")}`,
      ),
      exitCode: ExitCode.FAILURE,
    };
  }
  if (err instanceof YardError || isServiceError(err)) {
    const mapped = fromGrpcError(
      isServiceError(err) ? err : { code: err.code, details: err.message, message: err.message },
      { what: "the master", address: "(unknown address)" },
    );
    if (mapped instanceof CliError) return { line: oneLine(mapped.message), exitCode: mapped.exitCode };
  }
  return { line: oneLine(message), exitCode: ExitCode.FAILURE };
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, "; ").trim();
}
