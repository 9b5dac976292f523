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
 * An implementation of `definition` that forwards every method to `route()` when it gives an
 * implementation, and answers `refusal()` otherwise. Methods in `own` are served by the gate
 * itself whatever the route (a standby answers GetMasters).
 */
export function gatedService(
  definition: ServiceDefinition,
  route: Route,
  refusal: () => Partial<ServiceError>,
  own: Record<string, UntypedHandleCall> = {},
): UntypedServiceImplementation {
  const out: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    if (own[name]) {
      out[name] = own[name]!;
      continue;
    }
    const target = (): UntypedHandleCall | undefined => route()?.[name];
    if (!method.requestStream && !method.responseStream) {
      const h: handleUnaryCall<unknown, unknown> = (call, callback) => {
        const t = target() as handleUnaryCall<unknown, unknown> | undefined;
        if (t) t(call, callback);
        else callback(refusal() as ServiceError, null);
      };
      out[name] = h;
    } else if (method.requestStream && !method.responseStream) {
      const h: handleClientStreamingCall<unknown, unknown> = (call, callback) => {
        const t = target() as handleClientStreamingCall<unknown, unknown> | undefined;
        if (t) t(call, callback);
        else callback(refusal() as ServiceError, null);
      };
      out[name] = h;
    } else if (!method.requestStream) {
      const h: handleServerStreamingCall<unknown, unknown> = (call) => {
        const t = target() as handleServerStreamingCall<unknown, unknown> | undefined;
        if (t) t(call);
        else call.emit("error", refusal());
      };
      out[name] = h;
    } else {
      const h: handleBidiStreamingCall<unknown, unknown> = (call) => {
        const t = target() as handleBidiStreamingCall<unknown, unknown> | undefined;
        if (t) t(call);
        else call.emit("error", refusal());
      };
      out[name] = h;
    }
  }
  return out;
}
