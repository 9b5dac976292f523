// yardctl's gRPC clients: the master's OperatorService and the batch framework's
// BatchService. Unary calls get a short deadline so that a dead peer fails fast with
// "cannot reach ...", and every gRPC error is phrased (errors.ts) with the peer's address.
// Given several addresses (an HA cluster's masters), every call goes to the leader.
import {
  type Client,
  type ClientReadableStream,
  connectivityState as ConnectivityState,
  Metadata,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { ClientPool, callLeader } from "../common/leader-calls.js";
import { LeaderFollower } from "../common/leader-follower.js";
import { channelCredentials, type TlsMaterial } from "../common/tls.js";
import {
  BatchServiceClient,
  type GetJobRequest,
  type Job,
  type KillJobRequest,
  type ListJobsResponse,
  type SubmitJobRequest,
} from "../proto/gen/yard/v1/batch.js";
import {
  type ClusterEvent,
  type DrainAgentRequest,
  type DrainAgentResponse,
  type GetAgentsResponse,
  type GetFrameworksResponse,
  type GetMastersResponse,
  type GetTaskLogsRequest,
  type GetTasksRequest,
  type GetTasksResponse,
  type KillTaskRequest,
  type LogChunk,
  OperatorServiceClient,
  type State,
  type UndrainAgentRequest,
  WatchRequest,
  type ExplainRequest,
  type Explanation,
  type UiLogin,
} from "../proto/gen/yard/v1/operator.js";
import { fromGrpcError, type Peer } from "./errors.js";
import { consume } from "./streams.js";

/** How long a stream resumed after a failover keeps trying while the new leader cannot serve it yet. */
const RESUME_WINDOW_MS = 30_000;
const RESUME_RETRY_MS = 500;

/** Deadline of unary calls: long enough for a busy master, short enough to fail fast. */
export const UNARY_DEADLINE_MS = 5_000;

export interface ClientTarget {
  /**
   * host:port, or several separated by commas (the masters of an HA cluster, or the
   * instances of a framework): calls go to whichever leads, following redirects.
   */
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

/**
 * A client of a service that one of several peers serves (the leading master, the active
 * framework instance): every call goes to the leader, following redirects, trying each peer
 * once per round (common/leader-calls.ts). With one peer it behaves as a plain client.
 */
export abstract class LeaderClient<C extends Client> {
  protected readonly md: Metadata;
  protected readonly peer: Peer;
  private readonly clients: ClientPool<C>;
  private readonly follower: LeaderFollower;

  protected constructor(create: (address: string) => C, target: ClientTarget, what: string) {
    this.md = authMetadata(target.token);
    this.peer = { what, address: target.address };
    this.clients = new ClientPool(create);
    this.follower = new LeaderFollower(
      target.address
        .split(",")
        .map((a) => a.trim())
        .filter((a) => a !== ""),
    );
  }

  /** The client of the peer dialled now; its methods serve for any peer's client. */
  protected get client(): C {
    return this.clients.get(this.follower.address());
  }

  protected async call<Req, Res>(fn: UnaryFn<Req, Res>, req: Req): Promise<Res> {
    try {
      return await callLeader(
        this.follower,
        (address) => unary(fn, this.clients.get(address), req, this.md, UNARY_DEADLINE_MS),
        { deadlineMs: UNARY_DEADLINE_MS },
      );
    } catch (err) {
      throw fromGrpcError(err, this.peer);
    }
  }

  /** Runs `attempt` on the leader (a client stream, such as a push); errors are left raw. */
  protected onLeader<T>(attempt: (client: C) => Promise<T>): Promise<T> {
    return callLeader(this.follower, (address) => attempt(this.clients.get(address)), {
      deadlineMs: UNARY_DEADLINE_MS,
    });
  }

  /**
   * Waits until the channel to a peer is connected, so that a stream to a peer that is down
   * fails as fast as a unary call does (at the first failed connection attempt, or at the
   * deadline), instead of waiting for the peer forever. A peer that is down moves it to the
   * next one; it rejects when none can be reached.
   */
  async ready(): Promise<void> {
    const deadline = Date.now() + UNARY_DEADLINE_MS;
    for (;;) {
      try {
        return await connected(this.client.getChannel(), deadline);
      } catch (why) {
        const err = {
          code: GrpcStatus.UNAVAILABLE,
          details: String(why),
          message: String(why),
          metadata: new Metadata(),
        };
        if (this.follower.failed(err).roundFailed || Date.now() >= deadline) {
          throw fromGrpcError(err, this.peer);
        }
      }
    }
  }

  /**
   * Reads a server stream (opened on the peer dialled now by `open`) with streams.ts's
   * consume, on the leader: a stream that fails before its first message because its peer
   * does not lead or cannot be reached is opened again on the next one (the leader it named
   * at once). Errors are left raw: the caller phrases them with streamError().
   */
  async consume<T>(
    open: () => ClientReadableStream<T>,
    onData: (msg: T, stream: ClientReadableStream<T>) => boolean | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    await this.ready();
    let received = false;
    await callLeader(
      this.follower,
      async () => {
        const stream = open();
        await consume(
          stream,
          (msg) => {
            received = true;
            return onData(msg, stream);
          },
          signal,
        ).catch((err: unknown) => {
          // After a message the stream is the leader's: its failure is the caller's to judge.
          throw received ? new StreamFailed(err) : err;
        });
      },
      { deadlineMs: UNARY_DEADLINE_MS },
    ).catch((err: unknown) => {
      throw err instanceof StreamFailed ? err.cause : err;
    });
  }

  /**
   * consume(), carried across a failover: a stream that delivered messages and then fails
   * with UNAVAILABLE (its master died, or stepped down and ends its streams) is opened again
   * on the leader; `open` says where it resumes (after the last event printed, the newest
   * snapshot). `onResume` is told each time. Right after a failover the new leader may not
   * serve the stream yet (its agents are still coming back: "the agent ... is not connected"),
   * so for RESUME_WINDOW_MS a resumed stream that fails before its first message is opened
   * again every RESUME_RETRY_MS; a stream that never delivered is not resumed (consume() has
   * already tried every master for it).
   */
  async consumeAcrossFailover<T>(
    open: () => ClientReadableStream<T>,
    onData: (msg: T, stream: ClientReadableStream<T>) => boolean | undefined,
    onResume: (err: ServiceErrorLike) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    let resumedAt: number | undefined;
    for (;;) {
      let received = false;
      try {
        await this.consume(
          open,
          (msg, stream) => {
            received = true;
            return onData(msg, stream);
          },
          signal,
        );
        return;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (received && isUnavailable(err)) {
          resumedAt = Date.now();
          onResume(err);
          continue;
        }
        if (resumedAt === undefined || Date.now() - resumedAt > RESUME_WINDOW_MS) throw err;
        await new Promise((r) => setTimeout(r, RESUME_RETRY_MS));
      }
    }
  }

  /** Phrases an error that a stream of this client emitted. */
  streamError(err: unknown): unknown {
    return fromGrpcError(err, this.peer);
  }

  close(): void {
    this.clients.closeAll();
  }
}

/** What a gRPC error carries that a resumed stream reports. */
export interface ServiceErrorLike {
  code: number;
  details?: string;
}

function isUnavailable(err: unknown): err is ServiceErrorLike {
  return typeof err === "object" && err !== null && (err as ServiceErrorLike).code === GrpcStatus.UNAVAILABLE;
}

/** A stream failure after its first message: not retried on another peer. */
class StreamFailed extends Error {
  constructor(override readonly cause: unknown) {
    super("stream failed");
  }
}

/** Resolves once `channel` is connected; rejects with the reason it cannot be by `deadline`. */
function connected(channel: ReturnType<Client["getChannel"]>, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const state = channel.getConnectivityState(true);
      if (state === ConnectivityState.READY) return resolve();
      if (state === ConnectivityState.TRANSIENT_FAILURE || state === ConnectivityState.SHUTDOWN) {
        return reject(ConnectivityState[state]);
      }
      channel.watchConnectivityState(state, deadline, (err) => {
        if (err) reject(err.message);
        else check();
      });
    };
    check();
  });
}

export class OperatorClient extends LeaderClient<OperatorServiceClient> {
  constructor(target: ClientTarget) {
    const creds = channelCredentials(target.tls, { serverKind: "master" });
    super((address) => new OperatorServiceClient(address, creds, CHANNEL_OPTIONS), target, "the master");
  }

  /** The whole cluster state; `yardctl version` reads the master's version from it. */
  getState(): Promise<State> {
    return this.call(this.client.getState as UnaryFn<object, State>, {});
  }
  getAgents(): Promise<GetAgentsResponse> {
    return this.call(this.client.getAgents as UnaryFn<object, GetAgentsResponse>, {});
  }
  /** Answered by every master, standbys included (docs/ha.md). */
  getMasters(): Promise<GetMastersResponse> {
    return this.call(this.client.getMasters as UnaryFn<object, GetMastersResponse>, {});
  }
  getFrameworks(): Promise<GetFrameworksResponse> {
    return this.call(this.client.getFrameworks as UnaryFn<object, GetFrameworksResponse>, {});
  }
  getTasks(req: GetTasksRequest): Promise<GetTasksResponse> {
    return this.call(this.client.getTasks as UnaryFn<GetTasksRequest, GetTasksResponse>, req);
  }
  explain(req: ExplainRequest): Promise<Explanation> {
    return this.call(this.client.explain as UnaryFn<ExplainRequest, Explanation>, req);
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
  createUiLogin(): Promise<UiLogin> {
    return this.call(this.client.createUiLogin as UnaryFn<object, UiLogin>, {});
  }
  /** Not deadline-bound: it lives as long as the caller reads it. */
  watch(req: Partial<WatchRequest>): ClientReadableStream<ClusterEvent> {
    return this.client.watch(WatchRequest.fromPartial(req), this.md);
  }
  getTaskLogs(req: GetTaskLogsRequest): ClientReadableStream<LogChunk> {
    return this.client.getTaskLogs(req, this.md);
  }
}

export class BatchClient extends LeaderClient<BatchServiceClient> {
  constructor(target: ClientTarget) {
    const creds = channelCredentials(target.tls, { serverKind: "framework" });
    super(
      (address) => new BatchServiceClient(address, creds, CHANNEL_OPTIONS),
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
  listJobs(): Promise<ListJobsResponse> {
    return this.call(this.client.listJobs as UnaryFn<object, ListJobsResponse>, {});
  }
  killJob(req: KillJobRequest): Promise<Job> {
    return this.call(this.client.killJob as UnaryFn<KillJobRequest, Job>, req);
  }
  watchJob(req: GetJobRequest): ClientReadableStream<Job> {
    return this.client.watchJob(req, this.md);
  }
}
