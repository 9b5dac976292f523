// Release staging and pinning for frameworks: the master's distributor seen through the SDK.
//
// A framework that rolls out a release asks the master to stage it on the agents that will
// run it (each agent fetches it from the swarm) and waits until they all hold it, so that the
// rollout does not start on a host that is still downloading. It pins the releases its
// deployed revisions use, so that an operator cannot remove one an undo would need.
//
// Calls go to the master named in the options (the leader among several: a standby's
// answer that names the leader is followed once), with the cluster token and a deadline per
// unary call; every failure of a call is a SchedulerCallError (its `method` is the
// ReleaseService method), a staging that ended with a failed agent a StagingFailedError.
import type { ClientReadableStream, Metadata } from "@grpc/grpc-js";
import { authMetadata } from "../common/auth.js";
import { CHANNEL_OPTIONS, unary } from "../common/grpc.js";
import { ClientPool, callLeader } from "../common/leader-calls.js";
import { LeaderFollower } from "../common/leader-follower.js";
import type { MasterListInput } from "../common/master-list.js";
import {
  channelCredentials,
  chooseTransport,
  type TlsMaterial,
  type TransportChoice,
} from "../common/tls.js";
import { createLogger, type Logger } from "../common/logger.js";
import {
  type AgentFetch,
  type Release,
  ReleaseServiceClient,
  type StageStatus,
} from "../proto/gen/yard/v1/release.js";
import {
  DriverStoppedError,
  FrameworkSdkError,
  GrpcStatus,
  hasCode,
  NotSubscribedError,
  SdkArgumentError,
  toSchedulerCallError,
} from "./errors.js";
import { EventQueue } from "./event-queue.js";
import { masterList } from "./scheduler-driver.js";

/** Where an agent's copy of a release stands (PENDING: asked, not heard of yet). */
export type ReleaseFetchState = "PENDING" | "FETCHING" | "VERIFYING" | "DONE" | "FAILED" | "EVICTED";

const FETCH_STATES: ReadonlySet<string> = new Set([
  "PENDING",
  "FETCHING",
  "VERIFYING",
  "DONE",
  "FAILED",
  "EVICTED",
]);

export interface AgentStageProgress {
  agentId: string;
  hostname: string;
  state: ReleaseFetchState;
  /** Bytes held so far, out of `size`. */
  downloaded: number;
  size: number;
  /** Bytes this agent served to its peers. */
  uploaded: number;
  /** Bytes per second. */
  downloadRate: number;
  uploadRate: number;
  /** Why the fetch failed (state FAILED). */
  error: string;
  /** Seconds since the epoch of the agent's last report. */
  updatedAt: number;
}

export interface StageProgress {
  /** NAME@VERSION */
  release: string;
  agents: AgentStageProgress[];
  /** Every target holds the release, verified. */
  complete: boolean;
  /** A target failed (and the release is not on every target). */
  failed: boolean;
}

/** Transport: `tls` or `insecure: true`, else the driver's (SchedulerDriver.transport). */
export interface ReleaseStagingOptions extends TransportChoice {
  /** host:port of the master's gRPC endpoint, or several masters (the driver's). */
  master: MasterListInput;
  /** Shared secret of the cluster (the driver's). */
  token?: string;
  /** Deadline of each unary call, default 30 s. */
  callDeadlineMs?: number;
  /** The driver whose framework id setPins() pins for; needed by setPins() only. */
  driver?: {
    readonly frameworkId: string | undefined;
    readonly session?: string;
    readonly transport?: TransportChoice;
  };
  logger?: Logger;
}

/** The master's record of a stored release, as far as a framework needs it. */
export interface StoredReleaseInfo {
  /** NAME@VERSION */
  release: string;
  sha256: string;
  size: number;
  /** The master's copy failed its check at rest: it cannot be staged until pushed again. */
  corrupt: boolean;
  corruptMessage: string;
}

/** A staging ended with at least one target that could not fetch the release. */
export class StagingFailedError extends FrameworkSdkError {
  constructor(readonly progress: StageProgress) {
    const bad = progress.agents.filter((a) => a.state === "FAILED");
    const why = bad.map((a) => `${a.hostname || a.agentId}: ${a.error || "failed"}`).join("; ");
    super(`staging ${progress.release} failed on ${bad.length} agent(s): ${why || "no reason given"}`);
  }
}

function checkRelease(release: unknown): string {
  if (typeof release !== "string" || !/^[^@\s]+@[^@\s]+$/.test(release)) {
    throw new SdkArgumentError("release", `${JSON.stringify(release)} is not NAME@VERSION`);
  }
  return release;
}

function checkAgentIds(agentIds: readonly string[]): string[] {
  if (!Array.isArray(agentIds)) throw new SdkArgumentError("agentIds", "must be an array of agent ids");
  agentIds.forEach((id, i) => {
    if (typeof id !== "string" || id.trim() === "") {
      throw new SdkArgumentError(`agentIds[${i}]`, `${JSON.stringify(id)} is not an agent id`);
    }
  });
  return [...agentIds];
}

function agentProgress(a: AgentFetch): AgentStageProgress {
  return {
    agentId: a.agentId,
    hostname: a.hostname,
    // A state this SDK does not know (a newer master) reads as not there yet.
    state: (FETCH_STATES.has(a.state) ? a.state : "PENDING") as ReleaseFetchState,
    downloaded: a.downloaded,
    size: a.size,
    uploaded: a.uploaded,
    downloadRate: a.downloadRate,
    uploadRate: a.uploadRate,
    error: a.error,
    updatedAt: a.updatedAt,
  };
}

function progressOf(s: StageStatus): StageProgress {
  return { release: s.release, agents: s.agents.map(agentProgress), complete: s.complete, failed: s.failed };
}

export class ReleaseStaging {
  private readonly clients: ClientPool<ReleaseServiceClient>;
  private readonly follower: LeaderFollower;
  private readonly log: Logger;
  private readonly streams = new Set<ClientReadableStream<StageStatus>>();
  private closed = false;

  constructor(private readonly opts: ReleaseStagingOptions) {
    this.follower = new LeaderFollower(masterList(opts.master));
    const deadline = opts.callDeadlineMs ?? 30_000;
    if (!Number.isFinite(deadline) || deadline <= 0) {
      throw new SdkArgumentError("callDeadlineMs", `${deadline} is not a positive number`);
    }
    this.log = opts.logger ?? createLogger("framework-sdk.releases");
    let tls: TlsMaterial | null;
    try {
      tls = chooseTransport(
        opts.tls || opts.insecure ? opts : (opts.driver?.transport ?? {}),
        "ReleaseStaging",
      );
    } catch (err) {
      throw new SdkArgumentError("tls", (err as Error).message);
    }
    const creds = channelCredentials(tls, { serverKind: "master" });
    this.clients = new ClientPool((address) => new ReleaseServiceClient(address, creds, CHANNEL_OPTIONS));
  }

  /** The client of the master dialled now; its methods serve for any master's client. */
  private get client(): ReleaseServiceClient {
    return this.clients.get(this.follower.address());
  }

  /**
   * Asks the master to stage `release` on `agentIds` (every active agent when empty) and
   * returns where they stand now; it does not wait. Idempotent: agents that hold the release
   * count as done, agents fetching it are not asked again.
   */
  async stage(release: string, agentIds: readonly string[] = []): Promise<StageProgress> {
    const req = { release: checkRelease(release), agentIds: checkAgentIds(agentIds) };
    return progressOf(await this.call("Stage", this.client.stage, req));
  }

  /**
   * Stages like stage(), then yields the targets' progress after every change, the first one
   * at once. The iteration ends after the progress that is complete or failed; it throws a
   * SchedulerCallError when the call fails (unknown release or agent, the release removed
   * meanwhile, the master gone). Leaving the loop early (break) cancels the watch.
   */
  watchStage(release: string, agentIds: readonly string[] = []): AsyncIterableIterator<StageProgress> {
    const req = { release: checkRelease(release), agentIds: checkAgentIds(agentIds) };
    if (this.closed) throw new DriverStoppedError("WatchStage");
    let failure: unknown;
    let stream: ClientReadableStream<StageStatus>;
    const queue = new EventQueue<StageProgress>(() => {
      this.streams.delete(stream);
      stream.cancel();
    });
    const finish = () => {
      this.streams.delete(stream);
      queue.close();
    };
    // A standby's answer before any progress is followed once to the leader it names.
    let followed = false;
    const open = () => {
      let received = false;
      stream = this.client.watchStage(req, this.metadata());
      this.streams.add(stream);
      stream.on("data", (s: StageStatus) => {
        received = true;
        queue.push(progressOf(s));
      });
      stream.on("end", finish);
      stream.on("error", (err) => {
        if (!this.closed && !received && !followed && this.follower.redirected(err)) {
          followed = true;
          this.streams.delete(stream);
          open();
          return;
        }
        failure = this.closed
          ? new DriverStoppedError("WatchStage")
          : toSchedulerCallError("WatchStage", err);
        finish();
      });
    };
    open();
    // Errors surface after the progress received before them.
    const iterator: AsyncIterableIterator<StageProgress> = {
      next: async () => {
        const r = await queue.next();
        if (r.done && failure !== undefined) {
          const err = failure;
          failure = undefined;
          throw err;
        }
        return r;
      },
      return: () => queue.return(),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  /**
   * Stages `release` and waits until every target holds it: resolves the final progress,
   * rejects with StagingFailedError when a target failed, with SchedulerCallError when a
   * call did, or when the watch ended without an outcome. `onProgress` sees every change.
   */
  async stageAndWait(
    release: string,
    agentIds: readonly string[] = [],
    onProgress?: (p: StageProgress) => void,
  ): Promise<StageProgress> {
    for await (const p of this.watchStage(release, agentIds)) {
      onProgress?.(p);
      if (p.failed) throw new StagingFailedError(p);
      if (p.complete) return p;
    }
    throw toSchedulerCallError(
      "WatchStage",
      new Error("the master ended the watch before the staging ended"),
    );
  }

  /**
   * Replaces the set of releases this framework pins (an empty list unpins all). The master
   * refuses to remove a pinned release; it drops the pins when the framework is removed.
   * Needs the driver to be subscribed (its framework id).
   */
  async setPins(releases: readonly string[]): Promise<void> {
    const frameworkId = this.opts.driver?.frameworkId;
    if (!frameworkId) throw new NotSubscribedError("SetPins");
    if (!Array.isArray(releases)) throw new SdkArgumentError("releases", "must be an array of NAME@VERSION");
    releases.forEach((r, i) => {
      try {
        checkRelease(r);
      } catch {
        throw new SdkArgumentError(`releases[${i}]`, `${JSON.stringify(r)} is not NAME@VERSION`);
      }
    });
    await this.call("SetPins", this.client.setPins, { frameworkId, releases: [...releases] });
  }

  /**
   * The master's record of `release`, or undefined when the master does not store it (so a
   * framework can refuse a spec that names it before anything is launched). Any other
   * failure is a SchedulerCallError.
   */
  async describe(release: string): Promise<StoredReleaseInfo | undefined> {
    const req = { release: checkRelease(release) };
    let r: Release | undefined;
    try {
      r = (await this.call("Status", this.client.status, req)).release;
    } catch (err) {
      if (hasCode(err, GrpcStatus.NOT_FOUND)) return undefined;
      throw err;
    }
    if (!r) return undefined;
    return {
      release: `${r.name}@${r.version}`,
      sha256: r.sha256,
      size: r.size,
      corrupt: r.corrupt,
      corruptMessage: r.corruptMessage,
    };
  }

  /** Cancels the open watches (their iterators throw DriverStoppedError) and closes the channel. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.streams) s.cancel();
    this.streams.clear();
    this.clients.closeAll();
    this.log.debug("release staging client closed");
  }

  /** The cluster token, and the driver's subscription secret when there is a driver. */
  private metadata(): Metadata {
    return authMetadata(this.opts.token, this.opts.driver?.session);
  }

  private async call<Req, Res>(
    method: string,
    fn: (req: Req, md: Metadata, o: object, cb: (e: any, r: Res) => void) => unknown,
    req: Req,
  ): Promise<Res> {
    if (this.closed) throw new DriverStoppedError(method);
    const deadlineMs = this.opts.callDeadlineMs ?? 30_000;
    const once = () => unary(fn, this.client, req, this.metadata(), deadlineMs);
    try {
      // A standby's redirect or a dead master (a failover under way): the next master.
      return await callLeader(this.follower, once, { deadlineMs });
    } catch (err) {
      throw toSchedulerCallError(method, err);
    }
  }
}
