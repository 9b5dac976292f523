// Access checks for frameworks that serve an API of their own to operators (the service
// framework's DeployService, the batch framework's BatchService). The framework does not judge
// its callers itself: it forwards what each caller presented (bearer token, client certificate)
// to the master's ReviewAccess, so that one policy decides and one audit log records it.
import type { Metadata } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { PermissionDeniedError, UnauthenticatedError, UnavailableError } from "../common/errors.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { ClientPool, callLeader } from "../common/leader-calls.js";
import { LeaderFollower } from "../common/leader-follower.js";
import type { MasterListInput } from "../common/master-list.js";
import { channelCredentials, chooseTransport, type TransportChoice } from "../common/tls.js";
import { masterList } from "./scheduler-driver.js";
import { OperatorServiceClient, type ReviewAccessResponse } from "../proto/gen/yard/v1/operator.js";

/** Transport towards the master: the framework's `tls` material, or `insecure: true`. */
export interface AccessReviewerOptions extends TransportChoice {
  /** host:port of the master's gRPC endpoint, or several masters (the leader answers). */
  master: MasterListInput;
  /** The framework's own credential for the master (it needs the review_access action). */
  token?: string;
  /** Deadline of each review, default 10 s. */
  deadlineMs?: number;
}

/** What a gRPC server call of the framework's API offers: the caller's metadata and TLS peer. */
export interface ReviewedCall {
  metadata: Metadata;
  getAuthContext?: () => { sslPeerCertificate?: { raw?: Buffer } } | null;
}

export class AccessReviewer {
  private readonly clients: ClientPool<OperatorServiceClient>;
  private readonly follower: LeaderFollower;

  constructor(private readonly opts: AccessReviewerOptions) {
    this.follower = new LeaderFollower(masterList(opts.master));
    const creds = channelCredentials(chooseTransport(opts, "AccessReviewer"), { serverKind: "master" });
    this.clients = new ClientPool((address) => new OperatorServiceClient(address, creds, CHANNEL_OPTIONS));
  }

  /**
   * Resolves the caller's principal name when the master's policy lets the caller perform
   * `action` on `object`; rejects with PermissionDeniedError (the master's reason, naming the
   * principal and the action), UnauthenticatedError, or UnavailableError when the master
   * cannot be asked (refused, never allowed, while it is away).
   */
  async require(call: ReviewedCall, action: string, object = ""): Promise<string> {
    const header = call.metadata.get("authorization")[0];
    const token = typeof header === "string" && header.startsWith("Bearer ") ? header.slice(7) : "";
    const cert = call.getAuthContext?.()?.sslPeerCertificate?.raw;
    const review = (address: string) => {
      const client = this.clients.get(address);
      return unary(
        client.reviewAccess,
        client,
        { token, certificate: cert ?? Buffer.alloc(0), action, object },
        authMetadata(this.opts.token),
        this.opts.deadlineMs ?? 10_000,
      );
    };
    let res: ReviewAccessResponse;
    try {
      // The leader answers; a standby's redirect or a dead master (a failover under way)
      // moves the review on to the next master.
      res = await callLeader(this.follower, review, { deadlineMs: this.opts.deadlineMs ?? 10_000 });
    } catch (err) {
      const detail = (err as { details?: string }).details || (err as Error).message;
      throw new UnavailableError(`cannot check access with the master: ${detail}`, { cause: err });
    }
    if (res.unauthenticated) throw new UnauthenticatedError(res.reason);
    if (!res.allowed) throw new PermissionDeniedError(res.reason);
    return res.principal;
  }

  close(): void {
    this.clients.closeAll();
  }
}
