// The API of a framework run as several instances (framework-leader.ts): every instance serves
// it, only the active one answers. A standby answers every call with the same redirect as a
// standby master (UNAVAILABLE "not the leader", `yard-leader` metadata naming the active
// instance's API address), which yardctl and the SDK's clients follow at once.
import type {
  ServerDuplexStream,
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  sendUnaryData,
  UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { notLeaderError } from "../common/leader-redirect.js";

export interface StandbyGateInit {
  /** The active instance's API address (host:port), undefined while none leads. */
  leader: () => string | undefined;
  /** Names the standby in the redirect's message, e.g. "service framework instance". */
  what?: string;
}

export class StandbyGate {
  constructor(private readonly init: StandbyGateInit) {}

  /**
   * A service implementation that forwards each call to `impl()` while it returns one (this
   * instance is active) and answers the redirect otherwise. `impl` is asked per call, so a new
   * term's implementation replaces the last one without touching the server.
   */
  wrap<S extends object>(definition: ServiceDefinition, impl: () => S | undefined): S {
    const out: UntypedServiceImplementation = {};
    for (const [name, method] of Object.entries(definition)) {
      const target = () => impl() as unknown as UntypedServiceImplementation | undefined;
      const refuse = () => notLeaderError(this.init.leader(), this.init.what ?? "framework instance");
      if (!method.requestStream && !method.responseStream) {
        out[name] = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => {
          const t = target();
          if (t) (t[name] as (c: typeof call, cb: sendUnaryData<unknown>) => void)(call, cb);
          else cb(refuse());
        };
      } else if (method.requestStream && !method.responseStream) {
        out[name] = (call: ServerReadableStream<unknown, unknown>, cb: sendUnaryData<unknown>) => {
          const t = target();
          if (t) (t[name] as (c: typeof call, cb: sendUnaryData<unknown>) => void)(call, cb);
          else cb(refuse());
        };
      } else {
        out[name] = (call: ServerWritableStream<unknown, unknown> | ServerDuplexStream<unknown, unknown>) => {
          const t = target();
          if (t) (t[name] as (c: typeof call) => void)(call);
          else call.emit("error", refuse());
        };
      }
    }
    return out as S;
  }
}
