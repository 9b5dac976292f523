// How the web UI's HTTP side answers: JSON bodies, and JSON errors with the HTTP status a
// browser and a script expect. The one place where Yard's errors (and the gRPC status codes
// of the service framework's answers) become HTTP statuses.
import type { ServerResponse } from "node:http";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { errorMessage, isServiceError, YardError } from "../../common/errors.js";

const HTTP_OF_GRPC: Partial<Record<GrpcStatus, number>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNAUTHENTICATED]: 401,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.FAILED_PRECONDITION]: 409,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
};

/** Security headers of every UI answer: no framing, no sniffing, only this origin's scripts. */
export const UI_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  "cache-control": "no-store",
} as const;

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { ...UI_HEADERS, "content-type": "application/json; charset=utf-8" });
  res.end(JSON.stringify(body));
}

/** `{"error": {"status": 400, "message": "..."}}` */
export function sendError(res: ServerResponse, status: number, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: { status, message } });
}

/** The HTTP status of a failure: Yard's typed errors and gRPC answers by their code, else 500. */
export function httpStatusOf(err: unknown): number {
  if (err instanceof YardError || isServiceError(err)) return HTTP_OF_GRPC[err.code as GrpcStatus] ?? 500;
  return 500;
}

export function sendFailure(res: ServerResponse, err: unknown): void {
  sendError(res, httpStatusOf(err), errorMessage(err));
}
