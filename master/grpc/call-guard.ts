// Wraps gRPC handlers: checks the caller's token and maps typed errors to gRPC statuses in
// one place. A handler that throws never takes the daemon down.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { checkToken } from "../../common/auth.js";
import { toGrpcError } from "../../common/errors.js";

export function unaryHandler<Req, Res>(
  token: string | undefined,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    try {
      checkToken(token, call.metadata);
      callback(null, fn(call.request, call));
    } catch (err) {
      callback(toGrpcError(err) as any, null);
    }
  };
}

/** Ends a server stream with the status that matches `err`. */
export function failStream(call: ServerWritableStream<any, any>, err: unknown): void {
  call.emit("error", toGrpcError(err));
}
