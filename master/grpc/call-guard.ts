// Wraps gRPC handlers: authenticates the caller, checks the action each RPC names against the
// policy (master/auth/access.ts), audits operator actions, and maps typed errors to gRPC
// statuses in one place. A handler that throws never takes the daemon down.
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream } from "@grpc/grpc-js";
import { toGrpcError } from "../../common/errors.js";
import type { Principal } from "../../common/principal.js";
import type { AccessControl } from "../auth/access.js";
import type { Action } from "../auth/policy.js";

/** The action an RPC performs, and what on: fixed, or read from the request. */
export type ActionOf<Req> = Action | ((req: Req) => readonly [Action, string]);

export function actionOf<Req>(action: ActionOf<Req>, req: Req): readonly [Action, string] {
  return typeof action === "function" ? action(req) : [action, ""];
}

/**
 * Holds a reply until what the master wrote before it is durable (RegistryStore.afterCommit):
 * a caller is never told of a change that a failed or fenced commit did not store.
 */
export type ReplyGate = (send: () => void) => void;

const AT_ONCE: ReplyGate = (send) => send();

export function unaryHandler<Req, Res>(
  access: AccessControl,
  action: ActionOf<Req>,
  fn: (req: Req, call: ServerUnaryCall<Req, Res>, principal: Principal) => Res,
  gate: ReplyGate = AT_ONCE,
) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    let allowed: { principal: Principal; action: Action; object: string } | undefined;
    try {
      const [act, object] = actionOf(action, call.request);
      const principal = access.check(call, act, object);
      allowed = { principal, action: act, object };
      const res = fn(call.request, call, principal);
      access.done(principal, act, object);
      gate(() => callback(null, res));
    } catch (err) {
      if (allowed) access.done(allowed.principal, allowed.action, allowed.object, err);
      callback(toGrpcError(err) as any, null);
    }
  };
}

/** Ends a server stream with the status that matches `err`. */
export function failStream(call: ServerWritableStream<any, any>, err: unknown): void {
  call.emit("error", toGrpcError(err));
}
