// A master that does not lead, for tests of the clients' side: a real gRPC server that answers
// every method of the services it is given with the not-the-leader status, naming `leader`
// (or no leader). Generic over the service definitions, so it cannot drift from the protocol.
import { type UntypedHandleCall, Server, type ServiceDefinition, type ServiceError } from "@grpc/grpc-js";
import { bindServer } from "../../common/grpc.js";
import { notLeaderError } from "../../common/leader-redirect.js";
import { masterServerCredentials } from "../tls-fixture.js";

export interface StandbyStub {
  readonly address: string;
  /** How many calls each method got ("Connect", "GetAgents", ...). */
  calls(method: string): number;
  stop(): Promise<void>;
}

export async function startStandbyStub(
  services: ServiceDefinition[],
  leader: string | undefined,
): Promise<StandbyStub> {
  const counts = new Map<string, number>();
  const server = new Server();
  for (const service of services) {
    const handlers: Record<string, UntypedHandleCall> = {};
    for (const [name, def] of Object.entries(service)) {
      const method = def.path.slice(def.path.lastIndexOf("/") + 1);
      handlers[name] = ((call: unknown, callback?: (err: ServiceError) => void) => {
        counts.set(method, (counts.get(method) ?? 0) + 1);
        const err = notLeaderError(leader) as ServiceError;
        if (!def.responseStream) callback!(err);
        else (call as { emit(e: string, v: unknown): void }).emit("error", err);
      }) as UntypedHandleCall;
    }
    server.addService(service, handlers);
  }
  const port = await bindServer(server, "127.0.0.1", 0, masterServerCredentials());
  return {
    address: `127.0.0.1:${port}`,
    calls: (method) => counts.get(method) ?? 0,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
