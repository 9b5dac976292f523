// The web UI's apps pages: the master calls the service framework's DeployService (found by
// the endpoint in its FrameworkInfo, as yardctl finds it) on behalf of the logged-in operator.
// It presents the session's delegation token as the bearer, so the framework's ReviewAccess
// resolves it to that operator and the framework applies the same policy as for yardctl.
import { Metadata } from "@grpc/grpc-js";
import { FailedPreconditionError } from "../../common/errors.js";
import { CHANNEL_OPTIONS, unary } from "../../common/grpc.js";
import { callLeader, ClientPool } from "../../common/leader-calls.js";
import { LeaderFollower } from "../../common/leader-follower.js";
import { channelCredentials, type TlsMaterial } from "../../common/tls.js";
import {
  type AppStatus,
  DeployServiceClient,
  type HistoryResponse,
  type ListAppsResponse,
} from "../../proto/gen/yard/v1/deploy.js";
import type { FrameworkState } from "../../proto/gen/yard/v1/operator.js";

/** The name the service framework subscribes with (as yardctl looks it up). */
export const SERVICE_FRAMEWORK_NAME = "service";

const DEADLINE_MS = 10_000;

export interface ServiceAppsComponents {
  frameworks: () => FrameworkState[];
  /** The master's own TLS material (its certificate is the client's), null when insecure. */
  tls: TlsMaterial | null;
}

export class ServiceApps {
  private readonly clients: ClientPool<DeployServiceClient>;

  constructor(private readonly components: ServiceAppsComponents) {
    const creds = channelCredentials(components.tls, { serverKind: "framework" });
    this.clients = new ClientPool((address) => new DeployServiceClient(address, creds, CHANNEL_OPTIONS));
  }

  list(delegation: string): Promise<ListAppsResponse> {
    return this.call(delegation, (c, md) => unary(c.listApps, c, {}, md, DEADLINE_MS));
  }

  get(app: string, delegation: string): Promise<AppStatus> {
    return this.call(delegation, (c, md) => unary(c.getApp, c, { app }, md, DEADLINE_MS));
  }

  history(app: string, delegation: string): Promise<HistoryResponse> {
    return this.call(delegation, (c, md) => unary(c.history, c, { app }, md, DEADLINE_MS));
  }

  close(): void {
    this.clients.closeAll();
  }

  private call<T>(delegation: string, fn: (c: DeployServiceClient, md: Metadata) => Promise<T>): Promise<T> {
    const md = new Metadata();
    md.set("authorization", `Bearer ${delegation}`);
    // The framework's instances (active and standbys) are listed in its endpoint; the active
    // one answers, the others redirect.
    const follower = new LeaderFollower(this.endpoint().split(","));
    return callLeader(follower, (address) => fn(this.clients.get(address), md), { deadlineMs: DEADLINE_MS });
  }

  private endpoint(): string {
    const fw = this.components
      .frameworks()
      .find((f) => f.info?.name === SERVICE_FRAMEWORK_NAME && f.status === "CONNECTED" && f.info.endpoint);
    if (!fw?.info)
      throw new FailedPreconditionError(
        `no service framework is connected to the master (start one with "yardctl up" or "yardctl service")`,
      );
    return fw.info.endpoint;
  }
}
