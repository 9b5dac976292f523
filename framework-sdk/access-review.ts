// Access checks for frameworks that serve an API of their own to operators (the service
// framework's DeployService, the batch framework's BatchService). The framework does not judge
// its callers itself: it forwards what each caller presented (bearer token, client certificate)
// to the master's ReviewAccess, so that one policy decides and one audit log records it.
import type { Metadata } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { PermissionDeniedError, UnauthenticatedError, UnavailableError } from "../common/errors.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { channelCredentials, chooseTransport, type TransportChoice } from "../common/tls.js";
import { OperatorServiceClient, type ReviewAccessResponse } from "../proto/gen/yard/v1/operator.js";

/** Transport towards the master: the framework's `tls` material, or `insecure: true`. */
export interface AccessReviewerOptions extends TransportChoice {
  /** host:port of the master's gRPC endpoint. */
  master: string;
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
  private readonly client: OperatorServiceClient;

  constructor(private readonly opts: AccessReviewerOptions) {
    this.client = new OperatorServiceClient(
      opts.master,
      channelCredentials(chooseTransport(opts, "AccessReviewer"), { serverKind: "master" }),
      CHANNEL_OPTIONS,
    );
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
    let res: ReviewAccessResponse;
    try {
      res = await unary(
        this.client.reviewAccess,
        this.client,
        { token, certificate: cert ?? Buffer.alloc(0), action, object },
        authMetadata(this.opts.token),
        this.opts.deadlineMs ?? 10_000,
      );
    } catch (err) {
      const detail = (err as { details?: string }).details || (err as Error).message;
      throw new UnavailableError(`cannot check access with the master: ${detail}`, { cause: err });
    }
    if (res.unauthenticated) throw new UnauthenticatedError(res.reason);
    if (!res.allowed) throw new PermissionDeniedError(res.reason);
    return res.principal;
  }

  close(): void {
    this.client.close();
  }
}
