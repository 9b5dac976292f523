// The gate in front of a master's gRPC services in HA mode. The ports stay bound for the life
// of the process; each call is routed, when it arrives, to the services of the master instance
// that leads now, or answered with the not-the-leader status (common/leader-redirect.ts) when
// this master does not lead. One generic wrapper per service definition, so that a method
// added to a .proto is gated without anyone writing a copy of it here.
import type {
  handleBidiStreamingCall,
  handleClientStreamingCall,
  handleServerStreamingCall,
  handleUnaryCall,
  ServiceDefinition,
  ServiceError,
  UntypedHandleCall,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";

/** What a call is routed to: the leading instance's implementation, or undefined (refuse). */
export type Route = () => UntypedServiceImplementation | undefined;

/**
 * When the gate is about to open (this master won the election and is taking over): a promise
 * that settles once the gate opened or the takeover failed. A call that arrives then waits for
 * it instead of being refused: sent on, it would find the other masters naming this one as
 * the leader and come back only after a client's poll interval.
 */
export type Opening = () => Promise<unknown> | undefined;

export interface GateOptions {
  /** Methods served by the gate itself whatever the route (a standby answers GetMasters). */
  own?: Record<string, UntypedHandleCall>;
  opening?: Opening;
}

/**
 * An implementation of `definition` that forwards every method to `route()` when it gives an
 * implementation, waits while `opening()` says the gate is about to open, and answers
 * `refusal()` otherwise.
 */
export function gatedService(
  definition: ServiceDefinition,
  route: Route,
  refusal: () => Partial<ServiceError>,
  opts: GateOptions = {},
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  /** Runs `serve` with the route's handler, once the gate opened if it is opening; else `refuse`. */
  const dispatch = (name: string, serve: (h: UntypedHandleCall) => void, refuse: () => void) => {
    const now = route()?.[name];
    if (now) return serve(now);
    const soon = opts.opening?.();
    if (!soon) return refuse();
    // A stream's messages stay buffered until the handler listens: nothing is lost meanwhile.
    soon.then(
      () => {
        const h = route()?.[name];
        if (h) serve(h);
        else refuse();
      },
      () => refuse(),
    );
  };
  for (const [name, method] of Object.entries(definition)) {
    const own = opts.own?.[name];
    if (own) {
      out[name] = own;
      continue;
    }
    if (!method.requestStream && !method.responseStream) {
      const h: handleUnaryCall<unknown, unknown> = (call, callback) =>
        dispatch(
          name,
          (t) => (t as handleUnaryCall<unknown, unknown>)(call, callback),
          () => callback(refusal() as ServiceError, null),
        );
      out[name] = h;
    } else if (method.requestStream && !method.responseStream) {
      const h: handleClientStreamingCall<unknown, unknown> = (call, callback) =>
        dispatch(
          name,
          (t) => (t as handleClientStreamingCall<unknown, unknown>)(call, callback),
          () => callback(refusal() as ServiceError, null),
        );
      out[name] = h;
    } else if (!method.requestStream) {
      const h: handleServerStreamingCall<unknown, unknown> = (call) =>
        dispatch(
          name,
          (t) => (t as handleServerStreamingCall<unknown, unknown>)(call),
          () => call.emit("error", refusal()),
        );
      out[name] = h;
    } else {
      const h: handleBidiStreamingCall<unknown, unknown> = (call) =>
        dispatch(
          name,
          (t) => (t as handleBidiStreamingCall<unknown, unknown>)(call),
          () => call.emit("error", refusal()),
        );
      out[name] = h;
    }
  }
  return out;
}
