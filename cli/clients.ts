// yardctl's gRPC clients: the master's OperatorService and the batch framework's
// BatchService. Unary calls get a short deadline so that a dead peer fails fast with
// "cannot reach ...", and every gRPC error is phrased (errors.ts) with the peer's address.
import {
  type Client,
  type ClientReadableStream,
  connectivityState as ConnectivityState,
  Metadata,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { channelCredentials, type TlsMaterial } from "../common/tls.js";
import {
  BatchServiceClient,
  type GetJobRequest,
  type Job,
  type KillJobRequest,
  type SubmitJobRequest,
} from "../proto/gen/yard/v1/batch.js";
import {
  type ClusterEvent,
  type DrainAgentRequest,
  type DrainAgentResponse,
  type GetAgentsResponse,
  type GetFrameworksResponse,
  type GetTaskLogsRequest,
  type GetTasksRequest,
  type GetTasksResponse,
  type KillTaskRequest,
  type LogChunk,
  OperatorServiceClient,
  type UndrainAgentRequest,
  type WatchRequest,
} from "../proto/gen/yard/v1/operator.js";
import { fromGrpcError, type Peer } from "./errors.js";

/** Deadline of unary calls: long enough for a busy master, short enough to fail fast. */
export const UNARY_DEADLINE_MS = 5_000;

export interface ClientTarget {
  address: string;
  token?: string;
  /** The operator's TLS material; null = plaintext (--insecure). */
  tls: TlsMaterial | null;
}

type UnaryFn<Req, Res> = (
  req: Req,
  md: Metadata,
  options: object,
  cb: (err: unknown, res: Res) => void,
) => unknown;

abstract class BaseClient<C extends Client> {
  protected readonly md: Metadata;
  protected readonly peer: Peer;
  protected constructor(
    protected readonly client: C,
    target: ClientTarget,
    what: string,
  ) {
    this.md = authMetadata(target.token);
    this.peer = { what, address: target.address };
  }

  protected async call<Req, Res>(fn: UnaryFn<Req, Res>, req: Req): Promise<Res> {
    try {
      return await unary(fn, this.client, req, this.md, UNARY_DEADLINE_MS);
    } catch (err) {
      throw fromGrpcError(err, this.peer);
    }
  }

  /**
   * Waits until the channel is connected, so that a stream to a peer that is down fails
   * as fast as a unary call does (at the first failed connection attempt, or at the
   * deadline), instead of waiting for the peer forever.
   */
  ready(): Promise<void> {
    const channel = this.client.getChannel();
    const deadline = Date.now() + UNARY_DEADLINE_MS;
    const unreachable = (why: string) =>
      fromGrpcError(
        { code: GrpcStatus.UNAVAILABLE, details: why, message: why, metadata: new Metadata() },
        this.peer,
      );
    return new Promise((resolve, reject) => {
      const check = () => {
        const state = channel.getConnectivityState(true);
        if (state === ConnectivityState.READY) return resolve();
        if (state === ConnectivityState.TRANSIENT_FAILURE || state === ConnectivityState.SHUTDOWN) {
          return reject(unreachable(ConnectivityState[state]));
        }
        channel.watchConnectivityState(state, deadline, (err) => {
          if (err) reject(unreachable(err.message));
          else check();
        });
      };
      check();
    });
  }

  /** Phrases an error that a stream of this client emitted. */
  streamError(err: unknown): unknown {
    return fromGrpcError(err, this.peer);
  }

  close(): void {
    this.client.close();
  }
}

export class OperatorClient extends BaseClient<OperatorServiceClient> {
  constructor(target: ClientTarget) {
    super(
      new OperatorServiceClient(
        target.address,
        channelCredentials(target.tls, { serverKind: "master" }),
        CHANNEL_OPTIONS,
      ),
      target,
      "the master",
    );
  }

  getAgents(): Promise<GetAgentsResponse> {
    return this.call(this.client.getAgents as UnaryFn<object, GetAgentsResponse>, {});
  }
  getFrameworks(): Promise<GetFrameworksResponse> {
    return this.call(this.client.getFrameworks as UnaryFn<object, GetFrameworksResponse>, {});
  }
  getTasks(req: GetTasksRequest): Promise<GetTasksResponse> {
    return this.call(this.client.getTasks as UnaryFn<GetTasksRequest, GetTasksResponse>, req);
  }
  drainAgent(req: DrainAgentRequest): Promise<DrainAgentResponse> {
    return this.call(this.client.drainAgent as UnaryFn<DrainAgentRequest, DrainAgentResponse>, req);
  }
  undrainAgent(req: UndrainAgentRequest): Promise<DrainAgentResponse> {
    return this.call(this.client.undrainAgent as UnaryFn<UndrainAgentRequest, DrainAgentResponse>, req);
  }
  killTask(req: KillTaskRequest): Promise<unknown> {
    return this.call(this.client.killTask as UnaryFn<KillTaskRequest, unknown>, req);
  }
  /** Not deadline-bound: it lives as long as the caller reads it. */
  watch(req: WatchRequest): ClientReadableStream<ClusterEvent> {
    return this.client.watch(req, this.md);
  }
  getTaskLogs(req: GetTaskLogsRequest): ClientReadableStream<LogChunk> {
    return this.client.getTaskLogs(req, this.md);
  }
}

export class BatchClient extends BaseClient<BatchServiceClient> {
  constructor(target: ClientTarget) {
    super(
      new BatchServiceClient(
        target.address,
        channelCredentials(target.tls, { serverKind: "framework" }),
        CHANNEL_OPTIONS,
      ),
      target,
      "the batch framework",
    );
  }

  submitJob(req: SubmitJobRequest): Promise<Job> {
    return this.call(this.client.submitJob as UnaryFn<SubmitJobRequest, Job>, req);
  }
  getJob(req: GetJobRequest): Promise<Job> {
    return this.call(this.client.getJob as UnaryFn<GetJobRequest, Job>, req);
  }
  killJob(req: KillJobRequest): Promise<Job> {
    return this.call(this.client.killJob as UnaryFn<KillJobRequest, Job>, req);
  }
  watchJob(req: GetJobRequest): ClientReadableStream<Job> {
    return this.client.watchJob(req, this.md);
  }
}
